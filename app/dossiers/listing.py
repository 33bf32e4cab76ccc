"""Dossier lists and public tracking: visibility and filters in SQL, keyset pages newest first.

Officials and clients page by (submitted_at DESC, id DESC) over submitted dossiers, served by the indexes
(agency_code, state, submitted_at, id) and (agency_code, submitted_at, id); applicants page their own
dossiers (drafts included) by (created_at DESC, id DESC) on (applicant_id, created_at, id). Sort columns are
never NULL within a list, so the keyset order is the same on both databases.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.direct import DirectStatement, direct_connection
from app.core.pagination import PageParams, keyset_page
from app.core.problems import not_found
from app.core.settings import get_settings
from app.dossiers.access import DRAFT, VISIBILITY_SHAPES, Viewer, visibility
from app.dossiers.models import Dossier
from app.dossiers.schemas import DossierFilters, PublicDossierOut
from app.workflow.progress import (
    CLOCK_RUNNING_STATES,
    at_risk_cutoff,
    is_overdue,
    overdue_clause,
    with_list_progress,
)

OPEN_STATES = ("submitted", "received", "processing", "supplement_requested", "payment_requested")


def _local_midnight_utc(day: object) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(get_settings().timezone))  # type: ignore[arg-type]


def _filtered(stmt: Select[Any], filters: DossierFilters) -> Select[Any]:
    if filters.state:
        stmt = stmt.where(Dossier.state == filters.state)
    if filters.procedure:
        stmt = stmt.where(Dossier.procedure_code == filters.procedure)
    if filters.agency:
        stmt = stmt.where(Dossier.agency_code == filters.agency)
    if filters.channel:
        stmt = stmt.where(Dossier.channel == filters.channel)
    if filters.code:
        stmt = stmt.where(Dossier.code == filters.code)
    # Dates are local days (Asia/Ho_Chi_Minh), both ends inclusive.
    if filters.submitted_from:
        stmt = stmt.where(Dossier.submitted_at >= _local_midnight_utc(filters.submitted_from))
    if filters.submitted_to:
        stmt = stmt.where(Dossier.submitted_at < _local_midnight_utc(filters.submitted_to + timedelta(days=1)))
    if filters.overdue is not None:
        # One rule with the dossier's `overdue` field: clock running, unfinished, past due (app.workflow.progress).
        late = overdue_clause(clock.now())
        stmt = stmt.where(late if filters.overdue else ~late)
    return stmt


async def _at_risk(session: AsyncSession, stmt: Select[Any], n: int) -> Select[Any]:
    """The officials' at-risk queue: clock running, not yet overdue, due by the end of the n-th working day."""
    now = clock.now()
    cutoff = await at_risk_cutoff(session, now, n)
    return stmt.where(Dossier.state.in_(CLOCK_RUNNING_STATES), Dossier.finished_at.is_(None),
                      Dossier.due_at >= now, Dossier.due_at <= cutoff)


async def list_dossiers(session: AsyncSession, viewer: Viewer, filters: DossierFilters,
                        page: PageParams) -> tuple[list[tuple[Dossier, dict[str, Any]]], str | None]:
    """A page of the dossiers `viewer` may see, each with its list-level workflow fields (original_due_at,
    paused_working_days, overdue; no next_actions), in one statement."""
    shape, visibility_values = visibility(viewer)
    stmt = _filtered(select(Dossier).where(VISIBILITY_SHAPES[shape]), filters)
    if filters.due_within_working_days is not None:
        stmt = await _at_risk(session, stmt, filters.due_within_working_days)
    if viewer.principal.is_applicant or filters.state == DRAFT:
        order = [(Dossier.created_at, True), (Dossier.id, True)]
    else:
        stmt = stmt.where(Dossier.state != DRAFT)
        order = [(Dossier.submitted_at, True), (Dossier.id, True)]
    rows, cursor = await keyset_page(session, with_list_progress(stmt), order=order, params=page, scalars=False,
                                     key=lambda row: [getattr(row[0], column.key) for column, _ in order],
                                     parameters=visibility_values)
    now = clock.now()
    return [(dossier, {"original_due_at": original_due_at, "paused_working_days": paused_working_days or 0,
                       "overdue": is_overdue(dossier, now)})
            for dossier, original_due_at, paused_working_days in rows], cursor


# Built once: the public tracking page is the most requested read, and building a select costs more than running it.
_PUBLIC_STATUS = DirectStatement(
    select(Dossier.code, Dossier.procedure_name, Dossier.agency_name, Dossier.state, Dossier.national_status_code,
           Dossier.received_at, Dossier.due_at).where(Dossier.code == bindparam("code")))


async def public_status(code: str) -> PublicDossierOut:
    """What anyone holding a dossier code may know: no names, no form, no files. One statement on the direct
    connection (app.core.direct: no ORM session, no SQLAlchemy engine on PostgreSQL), taken here rather than
    through a generator dependency, whose per-request exit stack and cancel scope cost a fifth of this route's
    throughput under load (bench/PROFILE.md, session 5)."""
    async with direct_connection() as connection:
        row = await connection.fetchrow(_PUBLIC_STATUS, code=code)
    if row is None:
        raise not_found("dossier")
    return PublicDossierOut(**row, result_ready=row["state"] in ("processed", "returned"))

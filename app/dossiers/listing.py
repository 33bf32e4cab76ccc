"""Dossier lists and public tracking: visibility and filters in SQL, keyset pages newest first.

Officials and clients page by (submitted_at DESC, id DESC) over submitted dossiers, served by the indexes
(agency_code, state, submitted_at, id) and (agency_code, submitted_at, id); applicants page their own
dossiers (drafts included) by (created_at DESC, id DESC) on (applicant_id, created_at, id). Sort columns are
never NULL within a list, so the keyset order is the same on both databases.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from app.core import clock
from app.core.db import get_database
from app.core.direct import DirectStatement, direct_connection
from app.core.pagination import PageParams, keyset_statement, page_of, page_parameters
from app.core.problems import not_found
from app.dossiers.access import ASYNCPG_VISIBILITY_SHAPES, DRAFT, VISIBILITY_SHAPES, Viewer, visibility
from app.dossiers.models import Dossier
from app.dossiers.schemas import DossierFilters, PublicDossierOut
from app.workflow.progress import (
    CLOCK_RUNNING_STATES,
    at_risk_cutoff,
    is_overdue,
    late_clause,
    overdue_clause,
    with_list_progress,
)

OPEN_STATES = ("submitted", "received", "processing", "supplement_requested", "payment_requested")


# The list runs on the direct connection (app.core.direct), like public tracking: rows, not ORM objects, and
# no session. Its statement is built and compiled once per shape (which clauses it has); the values are
# parameters. A shape costs a millisecond to build the first time, a list request a fraction of that.
_NOW: BindParameter[datetime] = bindparam("now")
_FILTER_CLAUSES: dict[str, ColumnElement[bool]] = {
    "state": Dossier.state == bindparam("f_state"),
    "procedure": Dossier.procedure_code == bindparam("f_procedure"),
    "agency": Dossier.agency_code == bindparam("f_agency"),
    "channel": Dossier.channel == bindparam("f_channel"),
    "code": Dossier.code == bindparam("f_code"),
    # Dates are local days (Asia/Ho_Chi_Minh), both ends inclusive: [from 00:00, the day after `to` 00:00).
    "submitted_from": Dossier.submitted_at >= bindparam("f_submitted_from"),
    "submitted_to": Dossier.submitted_at < bindparam("f_submitted_to"),
}
_BY_CREATION = [(Dossier.created_at, True), (Dossier.id, True)]
_BY_SUBMISSION = [(Dossier.submitted_at, True), (Dossier.id, True)]


@dataclass(frozen=True)
class _Shape:
    visibility: str
    filters: tuple[str, ...]  # keys of _FILTER_CLAUSES present
    overdue: bool | None
    late: bool | None
    at_risk: bool
    by_creation: bool  # applicants' lists and draft lists page by creation, others by submission
    after_cursor: bool


def _build(shape: _Shape, visibility_shapes: dict[str, ColumnElement[bool]]) -> Select[Any]:
    stmt = select(*Dossier.__table__.columns).where(visibility_shapes[shape.visibility])
    stmt = stmt.where(*[_FILTER_CLAUSES[name] for name in shape.filters])
    if shape.overdue is not None:
        # One rule with the dossier's `overdue` field (app.workflow.progress): unfinished, and past due with the
        # clock running or already past due when it paused for a supplement (reads the joined progress row).
        late = overdue_clause(_NOW)
        stmt = stmt.where(late if shape.overdue else ~late)
    if shape.late is not None:
        # The law's lateness against the ORIGINAL due date (an apology never clears it): the reports' rule, and
        # the same clause as the rows' `late` column.
        judged = late_clause(_NOW)
        stmt = stmt.where(judged if shape.late else ~judged)
    if shape.at_risk:  # the officials' at-risk queue: clock running, not yet overdue, due by the cutoff
        stmt = stmt.where(Dossier.state.in_(CLOCK_RUNNING_STATES), Dossier.finished_at.is_(None),
                          Dossier.due_at >= _NOW, Dossier.due_at <= bindparam("f_cutoff"))
    if not shape.by_creation:
        stmt = stmt.where(Dossier.state != DRAFT)
    return keyset_statement(with_list_progress(stmt, _NOW), _BY_CREATION if shape.by_creation else _BY_SUBMISSION,
                            after_cursor=shape.after_cursor)


@functools.lru_cache(maxsize=512)
def _statement(shape: _Shape) -> DirectStatement:
    return DirectStatement(_build(shape, ASYNCPG_VISIBILITY_SHAPES), sqlite=_build(shape, VISIBILITY_SHAPES))


def _filter_values(filters: DossierFilters) -> dict[str, Any]:
    """The filters given, by key of _FILTER_CLAUSES, as the statement's values (days as local midnights in UTC)."""
    values = {name: getattr(filters, name) for name in _FILTER_CLAUSES if getattr(filters, name)}
    start, end = clock.local_day_range(values.pop("submitted_from", None), values.pop("submitted_to", None))
    values.update({name: moment for name, moment in (("submitted_from", start), ("submitted_to", end)) if moment})
    return values


async def list_dossiers(viewer: Viewer, filters: DossierFilters, page: PageParams, *, now: datetime | None = None,
                        ) -> tuple[list[tuple[Mapping[str, Any], dict[str, Any]]], str | None]:
    """A page of the dossiers `viewer` may see, each with its list-level workflow fields (original_due_at,
    paused_working_days, overdue, late; no next_actions), in one statement. `now` (default: the clock) judges `overdue`
    and the at-risk queue: the register (app.dossiers.register) reads every page as of one moment."""
    now = now or clock.now()
    shape_name, values = visibility(viewer)
    params: dict[str, Any] = {**values, "now": now}
    given = _filter_values(filters)
    params.update({f"f_{name}": value for name, value in given.items()})
    at_risk = filters.due_within_working_days is not None
    if filters.due_within_working_days is not None:
        async with get_database().read_sessions() as session:  # the calendar (cached: rarely a query)
            params["f_cutoff"] = await at_risk_cutoff(session, now, filters.due_within_working_days)
    by_creation = viewer.principal.is_applicant or filters.state == DRAFT
    order = _BY_CREATION if by_creation else _BY_SUBMISSION
    params.update(page_parameters(page, order))
    statement = _statement(_Shape(shape_name, tuple(given), filters.overdue, filters.late, at_risk, by_creation,
                                  bool(page.cursor)))
    async with direct_connection() as connection:
        found = await connection.fetch(statement, **params)
    rows, cursor = page_of(found, page, key=lambda row: [row[column.key] for column, _ in order])
    return [(row, {"original_due_at": row["original_due_at"], "paused_working_days": row["paused_working_days"] or 0,
                   "overdue": is_overdue(row, now, paused_at=row["paused_at"]), "late": bool(row["late"])})
            for row in rows], cursor


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

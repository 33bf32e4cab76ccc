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

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.pagination import PageParams, keyset_page
from app.core.problems import not_found
from app.core.settings import get_settings
from app.dossiers.access import DRAFT, Viewer, visible_to
from app.dossiers.models import Dossier
from app.dossiers.schemas import DossierFilters, PublicDossierOut

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
        now = clock.now()
        late = (Dossier.due_at.is_not(None) & (Dossier.due_at < now) & Dossier.finished_at.is_(None)
                & Dossier.state.in_(OPEN_STATES))
        stmt = stmt.where(late if filters.overdue else ~late)
    return stmt


async def list_dossiers(session: AsyncSession, viewer: Viewer, filters: DossierFilters,
                        page: PageParams) -> tuple[list[Dossier], str | None]:
    stmt = _filtered(select(Dossier).where(visible_to(viewer)), filters)
    by_creation = viewer.principal.is_applicant or filters.state == DRAFT
    if by_creation:
        order = [(Dossier.created_at, True), (Dossier.id, True)]
        return await keyset_page(session, stmt, order=order, params=page, key=lambda d: (d.created_at, d.id))
    stmt = stmt.where(Dossier.state != DRAFT)
    order = [(Dossier.submitted_at, True), (Dossier.id, True)]
    return await keyset_page(session, stmt, order=order, params=page, key=lambda d: (d.submitted_at, d.id))


async def public_status(session: AsyncSession, code: str) -> PublicDossierOut:
    """What anyone holding a dossier code may know: no names, no form, no files."""
    row = (await session.execute(
        select(Dossier.code, Dossier.procedure_name, Dossier.agency_name, Dossier.state,
               Dossier.national_status_code, Dossier.received_at, Dossier.due_at)
        .where(Dossier.code == code))).one_or_none()
    if row is None:
        raise not_found("dossier")
    return PublicDossierOut(code=row.code, procedure_name=row.procedure_name, agency_name=row.agency_name,
                            state=row.state, national_status_code=row.national_status_code,
                            received_at=row.received_at, due_at=row.due_at,
                            result_ready=row.state in ("processed", "returned"))

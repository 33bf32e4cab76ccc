"""Decision 766, transparency: procedures announced and published on time and complete.

A procedure version counts when it records an announcement (the decision announcing it and the day the legal
act it implements takes effect: app.catalogue.schemas.Announcement) whose effective date falls in the report's
period, in its scope (agency, procedure), keyed by agency, procedure or the effective date's month. It is:
- on time when it was published (`published_at`, the moment its status became published) no later than the end
  of the local day DVC_INDICATOR_PUBLICATION_ALLOWANCE_DAYS working days after the effective date (the working
  calendar of app.workflow: holidays, swapped days, overrides; 0 days: the effective date itself);
- complete when it has what the catalogue asks of a published procedure and can lack: at least one document
  part, its fees (fee items, or `no_fee` said explicitly) and its legal basis. Agency, field and processing
  days are required of every version, so never missing.
A version not yet published is counted (late) once its deadline has passed, and left out until then: whether it
will be on time is not known yet. Versions without an announcement are left out; with none in the period and
scope the ratio is unavailable.

Two statements: the distinct effective dates in scope (a deadline is computed in Python for each, the calendar
being the `holidays` package's), then one aggregate that compares each version with its date's deadline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import ProcedureVersion
from app.core.db import UTCDateTime
from app.core.settings import get_settings
from app.reporting.figures import ReportQuery, is_postgres, local_midnight
from app.workflow.calendar_service import deadline_window, load_calendar

V = ProcedureVersion
effective_date = V.announcement_effective_date  # the column the figure filters, groups and keys on


@dataclass(frozen=True)
class AnnouncedFigures:
    announced: int = 0  # versions with an announcement taking effect in the period
    counted: int = 0  # of those, published or past their deadline
    good: int = 0  # of those, published on time and complete

    def __add__(self, other: AnnouncedFigures) -> AnnouncedFigures:
        return AnnouncedFigures(self.announced + other.announced, self.counted + other.counted,
                                self.good + other.good)


def _filled(session: AsyncSession, column: Any) -> Any:
    """A JSON array column with at least one element."""
    length = func.jsonb_array_length(column) if is_postgres(session) else func.json_array_length(column)
    return func.coalesce(length, 0) > 0


def complete_clause(session: AsyncSession) -> Any:
    """What a version must hold to be complete (the module's docstring)."""
    return and_(_filled(session, V.document_parts), or_(V.no_fee, _filled(session, V.fee_items)),
                func.length(func.trim(func.coalesce(V.legal_basis, ""))) > 0)


def _key(session: AsyncSession, query: ReportQuery) -> Any:
    if query.group_by == "agency":
        return V.agency_code
    if query.group_by == "procedure":
        return V.procedure_code
    if query.group_by == "month":
        if is_postgres(session):
            return func.to_char(effective_date, "YYYY-MM")
        return func.strftime("%Y-%m", effective_date)
    return literal("")


def _scope(query: ReportQuery) -> list[Any]:
    filters: list[Any] = [effective_date.is_not(None), effective_date.between(query.start, query.end)]
    if query.agencies is not None:
        filters.append(V.agency_code.in_(sorted(query.agencies)))
    if query.procedure is not None:
        filters.append(V.procedure_code == query.procedure)
    return filters


async def deadlines(session: AsyncSession, days: list[date], allowance: int) -> dict[date, datetime]:
    """For each effective date, the moment (UTC) by which a version must be published: the local midnight ending
    the day `allowance` working days after it."""
    if not days:
        return {}
    calendar = await load_calendar(session, deadline_window(min(days), allowance)[0],
                                   deadline_window(max(days), allowance)[1])
    return {day: local_midnight(calendar.add_working_days(day, allowance) + timedelta(days=1)) for day in days}


async def announced_figures(session: AsyncSession, query: ReportQuery, now: datetime,
                            ) -> dict[str, AnnouncedFigures]:
    """The versions announced to take effect in the period, keyed as the report groups them."""
    rows = (await session.execute(select(effective_date).distinct().where(*_scope(query)))).all()
    days = [row[0] for row in rows if row[0] is not None]
    due = await deadlines(session, days, get_settings().indicator_publication_allowance_days)
    if not due:
        return {}
    deadline = case({day: literal(moment, UTCDateTime()) for day, moment in due.items()}, value=effective_date)
    published = V.published_at.is_not(None)
    counted = or_(published, deadline <= literal(now, UTCDateTime()))
    good = and_(published, V.published_at < deadline, complete_clause(session))
    key = _key(session, query).label("k")
    stmt = (select(key, func.count().label("announced"), func.sum(case((counted, 1), else_=0)).label("counted"),
                   func.sum(case((good, 1), else_=0)).label("good"))
            .where(*_scope(query)))
    if query.group_by:
        stmt = stmt.group_by(key)
    out: dict[str, AnnouncedFigures] = defaultdict(AnnouncedFigures)
    for row in (await session.execute(stmt)).all():
        out[str(row.k)] += AnnouncedFigures(int(row.announced), int(row.counted or 0), int(row.good or 0))
    return dict(out)

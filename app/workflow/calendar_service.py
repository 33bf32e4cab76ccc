"""The working calendar as the service sees it: the package's calendar plus the override table.

`load_calendar` is the one way the rest of the service gets a `WorkingCalendar`: the overrides in the range the
caller will walk over, then pure arithmetic. The override rows are kept by each process for
`OVERRIDES_TTL_S` (they change a few times a year, and most transitions read them), so a transition does not
pay a query for them; a change is seen at once by the process that made it and by the others within the TTL.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

from sqlalchemy import Select, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import service as catalogue_service
from app.core import clock
from app.core.pagination import PageParams, decode_cursor, keyset_page
from app.core.problems import not_found, validation_problem
from app.core.settings import get_settings
from app.workflow.calendar import REASON_WEEKEND, DayOverride, WorkingCalendar
from app.workflow.models import CalendarOverride
from app.workflow.schemas import MAX_CALENDAR_RANGE_DAYS, WorkingDay

OVERRIDES_TTL_S = 30.0
_ALL_OVERRIDES = select(CalendarOverride.date, CalendarOverride.working, CalendarOverride.note)


class _OverrideCache:
    """Every override row of the table (a few per year), as this process last read it."""

    def __init__(self) -> None:
        self.overrides: dict[date, DayOverride] | None = None
        self.expires = 0.0
        self.generation = 0  # bumped by forget(): a read that started before a change is not stored

    def fresh(self) -> dict[date, DayOverride] | None:
        return self.overrides if self.overrides is not None and time.monotonic() < self.expires else None

    def store(self, overrides: dict[date, DayOverride], generation: int) -> None:
        if generation == self.generation:
            self.overrides, self.expires = overrides, time.monotonic() + OVERRIDES_TTL_S

    def forget(self) -> None:
        self.generation += 1
        self.overrides = None


_cache = _OverrideCache()


def forget_cached_overrides() -> None:
    """Drop this process's copy of the overrides (after a change; tests after truncating the table)."""
    _cache.forget()


async def load_calendar(session: AsyncSession, start: date, end: date) -> WorkingCalendar:
    """A calendar with the overrides dated within [start, end].

    Days outside the range are answered by the package alone, so load a range that covers every day the
    arithmetic will visit; `deadline_window` gives one for a deadline.
    """
    overrides = _cache.fresh()
    if overrides is None:
        generation = _cache.generation
        rows = (await session.execute(_ALL_OVERRIDES)).all()
        overrides = {row.date: DayOverride(working=row.working, note=row.note) for row in rows}
        _cache.store(overrides, generation)
    return WorkingCalendar({day: value for day, value in overrides.items() if start <= day <= end})


def deadline_window(start: date, working_days: int) -> tuple[date, date]:
    """A date range surely holding `working_days` working days after `start`.

    Weeks give 5 working days in 7; the longest run of days off in Vietnam (Tết with its weekends) is
    about 10 days, so twice the calendar-day equivalent plus a month is a safe margin.
    """
    span = abs(working_days) * 7 // 5 * 2 + 31
    # Clamped to what `date` can hold: the range is a superset to load overrides for, never a result.
    first = date.min if span >= (start - date.min).days else start - timedelta(days=span)
    last = date.max if span >= (date.max - start).days else start + timedelta(days=span)
    return first, last


async def load_calendar_for_deadline(session: AsyncSession, start: date, working_days: int) -> WorkingCalendar:
    first, last = deadline_window(start, working_days)
    return await load_calendar(session, first, last)


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise validation_problem([{"loc": ["query", "to"], "msg": "must not be before `from`"}])
    if (end - start).days + 1 > MAX_CALENDAR_RANGE_DAYS:
        raise validation_problem([{"loc": ["query", "to"],
                                   "msg": f"the range spans at most {MAX_CALENDAR_RANGE_DAYS} days"}])


async def working_days(session: AsyncSession, start: date, end: date, agency_code: str | None) -> list[WorkingDay]:
    """One entry per day of [start, end] (at most 366 days). The days counted are national; with `agency`, the
    ordinary Saturdays of an agency whose desk opens on Saturday mornings say until when it receives."""
    _check_range(start, end)
    saturday_reason = None
    if agency_code is not None:
        agency = await catalogue_service.get_agency(session, agency_code)
        if agency is None:
            raise not_found("agency")
        if agency.saturday_morning:
            until = get_settings().saturday_morning_end.strftime("%H:%M")
            saturday_reason = f"{REASON_WEEKEND}; the desk receives until {until} (counted from the next working day)"
    calendar = await load_calendar(session, start, end)
    return [WorkingDay(date=day, working=working,
                       reason=saturday_reason if saturday_reason and calendar.is_ordinary_saturday(day) else reason)
            for day, working, reason in calendar.days(start, end)]


async def put_override(session: AsyncSession, day: date, *, working: bool, note: str,
                       actor_id: uuid.UUID) -> tuple[CalendarOverride, bool]:
    """Create or replace the override for `day`; True when it was created (a PUT answers 201 then, RFC 9110
    §9.3.4). An insert that does nothing on a conflict, then an update: two admins at once cannot collide, and the
    one whose insert lost (it waits for the other's commit on PostgreSQL) replaces, as it would a minute later."""
    values = {"date": day, "working": working, "note": note, "updated_by": actor_id, "updated_at": clock.now()}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(CalendarOverride).values(**values).on_conflict_do_nothing(index_elements=[CalendarOverride.date])
    created = (await session.execute(stmt.returning(CalendarOverride.date))).first() is not None
    if not created:
        await session.execute(update(CalendarOverride).where(CalendarOverride.date == day)
                              .values({k: v for k, v in values.items() if k != "date"}))
    # Forget now (this transaction's later reads) and after the commit (reads that began in between).
    _cache.forget()
    event.listen(session.sync_session, "after_commit", lambda _: _cache.forget(), once=True)
    row = await get_override(session, day, fresh=True)
    assert row is not None
    return row, created


async def get_override(session: AsyncSession, day: date, *, fresh: bool = False) -> CalendarOverride | None:
    stmt = select(CalendarOverride).where(CalendarOverride.date == day)
    if fresh:  # the row as just written, not a copy the session already holds
        stmt = stmt.execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def list_overrides(session: AsyncSession, page: PageParams, start: date | None,
                         end: date | None) -> tuple[list[CalendarOverride], str | None]:
    stmt: Select[tuple[CalendarOverride]] = select(CalendarOverride)
    if start is not None:
        stmt = stmt.where(CalendarOverride.date >= start)
    if end is not None:
        stmt = stmt.where(CalendarOverride.date <= end)
    if page.cursor:
        # The shared cursor codec knows datetimes and UUIDs, not dates: the position travels as ISO text.
        (after,) = decode_cursor(page.cursor, 1)
        try:
            stmt = stmt.where(CalendarOverride.date > date.fromisoformat(str(after)))
        except ValueError as error:
            raise validation_problem([{"loc": ["query", "cursor"], "msg": "invalid cursor"}]) from error
        page = PageParams(limit=page.limit, cursor=None)
    return await keyset_page(session, stmt, order=[(CalendarOverride.date, False)], params=page,
                             key=lambda row: (row.date.isoformat(),))

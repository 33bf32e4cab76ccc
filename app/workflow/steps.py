"""The internal process (form 05, process control slip): each step, who held the dossier, and its allowance.

A step runs from the end of the previous one (or the submission, or the start of the clock) to the action
that completes it; time spent waiting on the applicant (a supplement) is taken out by shifting the step's
start. A procedure version may give a step an allowance in working days (until 17:00 local on the n-th
working day after the step's start, like a deadline) or in working hours (counted inside the working day,
from `WORKING_DAY_HOURS` hours before its end, e.g. 08:00-17:00).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import LOCAL_TZ
from app.core.pagination import PageParams, keyset_page
from app.core.settings import get_settings
from app.workflow import deadlines
from app.workflow.calendar import WorkingCalendar
from app.workflow.calendar_service import load_calendar, load_calendar_for_deadline
from app.workflow.history import ActorRef
from app.workflow.models import StepRecord

WORKING_DAY_HOURS = 9


def step_limit(step_time_limits: list[Any], step: str) -> tuple[int | None, int | None]:
    """(working_days, hours) allowed for `step` by the version, or (None, None)."""
    for limit in step_time_limits or []:
        if isinstance(limit, dict) and limit.get("step") == step:
            return limit.get("working_days"), limit.get("hours")
    return None, None


def add_working_hours(start: datetime, hours: int, calendar: WorkingCalendar) -> datetime:
    """The moment `hours` working hours after `start` (working hours: the working window of working days)."""
    end_hour = get_settings().working_day_end_hour
    start_hour = max(0, end_hour - WORKING_DAY_HOURS)
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(LOCAL_TZ)
    for _ in range(hours + 400):  # at most one working day per hour, plus the longest run of days off
        day: date = cursor.date()
        opens = datetime.combine(day, time(start_hour), tzinfo=LOCAL_TZ)
        closes = datetime.combine(day, time(end_hour), tzinfo=LOCAL_TZ)
        if not calendar.is_working_day(day) or cursor >= closes:
            cursor = datetime.combine(calendar.next_working_day(day), time(start_hour), tzinfo=LOCAL_TZ)
            continue
        cursor = max(cursor, opens)
        if cursor + remaining <= closes:
            return cursor + remaining
        remaining -= closes - cursor
        cursor = closes
    raise RuntimeError("working-hours arithmetic did not converge")


async def step_due(session: AsyncSession, started_at: datetime, working_days: int | None,
                   hours: int | None) -> datetime | None:
    if working_days:
        calendar = await load_calendar_for_deadline(session, started_at.astimezone(LOCAL_TZ).date(), working_days)
        return deadlines.due_at(started_at, working_days, calendar)
    if hours:
        first = started_at.astimezone(LOCAL_TZ).date()
        calendar = await load_calendar(session, first - timedelta(days=1), first + timedelta(days=hours // 2 + 40))
        return add_working_hours(started_at, hours, calendar)
    return None


async def close_step(session: AsyncSession, *, dossier_id: Any, agency_code: str, step: str, history_seq: int,
                     holder: ActorRef, started_at: datetime, ended_at: datetime,
                     step_time_limits: list[Any]) -> dict[str, Any]:
    """Record a completed step; returns its summary for the history entry's details."""
    working_days, hours = step_limit(step_time_limits, step)
    due = await step_due(session, started_at, working_days, hours)
    overran = None if due is None else ended_at > due
    session.add(StepRecord(dossier_id=dossier_id, agency_code=agency_code, step=step, history_seq=history_seq,
                           holder_id=holder.id, holder_name=holder.name, started_at=started_at, ended_at=ended_at,
                           allowance_working_days=working_days, allowance_hours=hours, due_at=due,
                           overran=overran))
    return {"step": step, "holder": holder.as_dict(), "started_at": clock.utc_text(started_at),
            "ended_at": clock.utc_text(ended_at), "allowance_working_days": working_days, "allowance_hours": hours,
            "due_at": clock.utc_text(due), "overran": overran}


# In the order completed; nothing makes (ended_at, history_seq) unique, so the id ends the key: a cursor then
# never skips or repeats a step.
_STEP_ORDER = ((StepRecord.ended_at, False), (StepRecord.history_seq, False), (StepRecord.id, False))


async def list_steps(session: AsyncSession, dossier_id: Any,
                     page: PageParams) -> tuple[list[StepRecord], str | None]:
    """One page of the dossier's completed steps, in the order completed, and the cursor of the next."""
    stmt = select(StepRecord).where(StepRecord.dossier_id == dossier_id)
    return await keyset_page(session, stmt, order=_STEP_ORDER, params=page,
                             key=lambda s: [s.ended_at, s.history_seq, s.id])

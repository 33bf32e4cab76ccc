"""The internal process (form 05, process control slip): each step, who held the dossier, and its allowance.

A step runs from the end of the previous one (or the submission, or the start of the clock) to the action
that completes it; time spent waiting on the applicant (a supplement) is taken out by shifting the step's
start by the working time waited (`resume_step`), unless the step had overrun its allowance before the wait
began; a restarted clock restarts the step (`restart_step`). A procedure version may give a step an allowance
in working days (until 17:00 local on the n-th working day after the step's start, like a deadline) or in
working hours (counted inside the working sessions of working days: 08:00-12:00 and 13:00-17:00 by default, so
that 8 working hours make a working day, as internal processes convert them).

The step under way is not a row. A slip row is written once, in the transaction of the history entry that
completes the step (whose hashed details carry the same summary), and only then are its name (the action that
completed it: an appraisal may be skipped; a stop ends the step under way, under that step's name), its holder
(whoever completed it) and its end known. So the step under way is derived from the progress row, which the engine
changes under the dossier's lock anyway: its start (`step_started_at`), its name and own deadline
(`step_under_way`, `step_due_at`, set after every transition by `begin_next_step`) and its holder, the official
the dossier is assigned to (`assignee_id`; nobody is named before the assignment, nor once processing is over).
Neither the slip nor the history is ever updated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import LOCAL_TZ
from app.core.pagination import PageParams, encode_cursor, keyset_page
from app.core.problems import ProblemError
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.identity import service as identity
from app.workflow import deadlines
from app.workflow.calendar import WorkingCalendar
from app.workflow.calendar_service import load_calendar, load_calendar_for_deadline
from app.workflow.definition import StepEffect, WorkflowDefinition, definitions
from app.workflow.history import ActorRef
from app.workflow.models import DossierProgress, StepRecord
from app.workflow.progress import CLOCK_PAUSED_STATE, VersionFacts


def step_limit(step_time_limits: list[Any], step: str) -> tuple[int | None, int | None]:
    """(working_days, hours) allowed for `step` by the version, or (None, None)."""
    for limit in step_time_limits or []:
        if isinstance(limit, dict) and limit.get("step") == step:
            return limit.get("working_days"), limit.get("hours")
    return None, None


def _working_sessions(day: date) -> tuple[tuple[datetime, datetime], ...]:
    """When `day`'s working hours run (local): the morning and the afternoon, the lunch break left out (settings
    `working_day_start`, `lunch_break_start`, `lunch_break_end`, `working_day_end_hour`: 08:00-12:00 and
    13:00-17:00, the 8 hours a day of Decision 188/1999/QĐ-TTg). Counted as 08:00-17:00, an allowance of 40
    working hours (a week) ran out on Friday at noon, and its holder was listed as late for the afternoon."""
    return tuple((datetime.combine(day, opens, tzinfo=LOCAL_TZ), datetime.combine(day, closes, tzinfo=LOCAL_TZ))
                 for opens, closes in get_settings().working_sessions)


def _opening(day: date) -> datetime:
    return _working_sessions(day)[0][0]


def add_working_hours(start: datetime, hours: int, calendar: WorkingCalendar) -> datetime:
    """The moment `hours` working hours after `start` (working hours: the working sessions of working days)."""
    return add_working_time(start, timedelta(hours=hours), calendar)


def add_working_time(start: datetime, amount: timedelta, calendar: WorkingCalendar) -> datetime:
    """The moment `amount` of working time after `start` (from the next opening when `start` is outside hours).

    Ending exactly at a session's close stays there (17:00 or 12:00), rather than at the next opening."""
    remaining = amount
    cursor = start.astimezone(LOCAL_TZ)
    day: date = cursor.date()
    for _ in range(int(amount / timedelta(hours=1)) + 400):  # a working day per hour at most, plus days off
        if calendar.is_working_day(day):
            for opens, closes in _working_sessions(day):
                if cursor >= closes:
                    continue
                cursor = max(cursor, opens)
                if cursor + remaining <= closes:
                    return cursor + remaining
                remaining -= closes - cursor
                cursor = closes
        day = calendar.next_working_day(day)
        cursor = max(cursor, _opening(day))
    raise RuntimeError("working-hours arithmetic did not converge")


def working_time_between(start: datetime, end: datetime, calendar: WorkingCalendar) -> timedelta:
    """The working time from `start` to `end` (the parts of working sessions between them; none if end <= start)."""
    first, last = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    total, day = timedelta(), first.date()
    while day <= last.date():
        if calendar.is_working_day(day):
            for opens, closes in _working_sessions(day):
                total += max(timedelta(), min(closes, last) - max(opens, first))
        day += timedelta(days=1)
    return total


def after_working_days(moment: datetime, days: int, calendar: WorkingCalendar) -> datetime:
    """`moment` moved out by `days` working days: on the `days`-th working day after the day it counts for (as a
    reception: after hours or on a day off, the next working day), at its hour, or at the opening when it did
    not fall in that day. A deadline counted from it moves out by exactly `days` working days."""
    if days == 0:
        return moment
    local = moment.astimezone(LOCAL_TZ)
    counts_for = deadlines.effective_reception_date(moment, calendar)
    day = calendar.add_working_days(counts_for, days)
    at = local.time() if counts_for == local.date() else _opening(day).time()
    return datetime.combine(day, at, tzinfo=LOCAL_TZ)


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
                     holder: ActorRef, started_at: datetime, handed_over_at: datetime, ended_at: datetime,
                     step_time_limits: list[Any]) -> dict[str, Any]:
    """Record a completed step; returns its summary for the history entry's details."""
    working_days, hours = step_limit(step_time_limits, step)
    due = await step_due(session, started_at, working_days, hours)
    overran = None if due is None else ended_at > due
    session.add(StepRecord(dossier_id=dossier_id, agency_code=agency_code, step=step, history_seq=history_seq,
                           holder_id=holder.id, holder_name=holder.name, started_at=started_at,
                           handed_over_at=handed_over_at, ended_at=ended_at, allowance_working_days=working_days,
                           allowance_hours=hours, due_at=due, overran=overran))
    return {"step": step, "holder": holder.as_dict(), "started_at": clock.utc_text(started_at),
            "handed_over_at": clock.utc_text(handed_over_at), "ended_at": clock.utc_text(ended_at),
            "allowance_working_days": working_days, "allowance_hours": hours,
            "due_at": clock.utc_text(due), "overran": overran}


async def resume_step(session: AsyncSession, progress: DossierProgress, *, allowance: tuple[int | None, int | None],
                      paused_at: datetime, resumed_at: datetime, waited_working_days: int) -> None:
    """After a supplement wait (the dossier's clock paused, or not started yet), the applicant's time comes off the
    step under way as it comes off the dossier: its start, and so its deadline, moves out by the working days the
    dossier's due date moves by (`waited_working_days`: app.workflow.deadlines.extend_for_pause), or, for an
    allowance in working hours, by the working hours waited. Moved by the wall-clock wait instead, a step could
    start again on a Sunday (its days then counted from Monday) and fall due a working day later than the law's
    count gives the dossier; an hours step answered at the weekend got back the weekend's hours too.

    Unless the step had overrun its allowance before the wait began. A deadline missed already is not given
    back, as a dossier late before a wait stays late (app.workflow.progress): the step keeps the deadline it
    missed, so whenever it is judged (the slip, the late list of a period that ended before the wait) it had
    overrun by then. Moved, a deadline missed in March went into April once the applicant answered in May, and
    March's list stopped blaming the step's holder."""
    started = progress.step_started_at
    if started is None or (progress.step_due_at is not None and progress.step_due_at < paused_at):
        return
    working_days, hours = allowance
    calendar = await load_calendar(session, started.astimezone(LOCAL_TZ).date() - timedelta(days=1),
                                   resumed_at.astimezone(LOCAL_TZ).date() + timedelta(days=31))
    if hours and not working_days:
        waited = working_time_between(paused_at, resumed_at, calendar)
        moved = add_working_time(started, waited, calendar) if waited else started
    else:
        moved = after_working_days(started, waited_working_days, calendar)
    progress.step_started_at = moved.astimezone(UTC)


def restart_step(progress: DossierProgress, resumed_at: datetime) -> None:
    """Under the restart rule the dossier is received anew when the supplement arrives, with all its processing
    days again: the step under way starts again then, with its whole allowance (and, like the dossier's
    lateness, an overrun before the wait is judged no more)."""
    if progress.step_started_at is not None:
        progress.step_started_at = progress.step_handed_over_at = resumed_at


def _steps_from(definition: WorkflowDefinition, state: str, approved: bool) -> list[str]:
    """The steps recorded by the actions leaving `state`, in the definition's order (an action guarded by
    `approved` only once the dossier is approved)."""
    names: list[str] = []
    for action in definition.actions.values():
        if state not in action.from_states or ("approved" in action.guards and not approved):
            continue
        names += [e.step for e in action.effects if isinstance(e, StepEffect) and e.named and e.step not in names]
    return names


def next_step(definition: WorkflowDefinition, state: str, previous_state: str | None, approved: bool, *,
              closed: str | None, current: str | None) -> str | None:
    """The step under way in `state`: after the step just `closed`, the next one its state's actions record
    (the first again after the last); otherwise the `current` one while the state still records it. Waiting on
    a supplement suspends the step of the state the dossier returns to; a state whose actions record no step
    (waiting for fees, ended) has none."""
    if state == CLOCK_PAUSED_STATE and previous_state:
        state = previous_state
    names = _steps_from(definition, state, approved)
    if not names:
        return None
    if closed is not None:
        after = names.index(closed) + 1 if closed in names else 0
        return names[after] if after < len(names) else names[0]
    return current if current in names else names[0]


async def begin_next_step(session: AsyncSession, progress: DossierProgress, *, definition: WorkflowDefinition,
                          state: str, facts: VersionFacts, closed: str | None) -> None:
    """After a transition: name the step now under way and work out its own deadline (from its start, which a
    supplement wait shifts: the deadline moves with it, as `close_step` will compute it)."""
    name = next_step(definition, state, progress.previous_state, progress.approved, closed=closed,
                     current=progress.step_under_way)
    progress.step_under_way = name
    progress.step_due_at = None
    if name is not None and progress.step_started_at is not None:
        progress.step_due_at = await step_due(session, progress.step_started_at,
                                              *step_limit(facts.step_time_limits, name))


@dataclass(frozen=True)
class OpenStep:
    """The step under way, shaped like a slip row (no end, no history entry yet)."""

    step: str
    holder_id: uuid.UUID | None
    holder_name: str | None
    started_at: datetime
    handed_over_at: datetime | None
    allowance_working_days: int | None
    allowance_hours: int | None
    due_at: datetime | None
    overran: bool | None  # already past its deadline (as of now, or of the start of a supplement wait)
    ended_at: None = None
    history_seq: None = None


async def _last_closed(session: AsyncSession, dossier_id: uuid.UUID) -> str | None:
    return (await session.execute(select(StepRecord.step).where(StepRecord.dossier_id == dossier_id)
                                  .order_by(StepRecord.ended_at.desc(), StepRecord.history_seq.desc()).limit(1))
            ).scalar_one_or_none()


async def _holder_name(session: AsyncSession, holder: uuid.UUID | None) -> str | None:
    try:
        return None if holder is None else (await identity.get_account(session, holder)).name
    except ProblemError:
        return None


async def _worked_out_name(session: AsyncSession, dossier: Dossier, progress: DossierProgress,
                           facts: VersionFacts) -> str | None:
    """The step under way of a dossier that has none kept, as `begin_next_step` would have named it."""
    definition = definitions().get(facts.workflow)
    if definition is None:
        return None
    return next_step(definition, dossier.state, progress.previous_state, progress.approved,
                     closed=await _last_closed(session, dossier.id), current=None)


async def name_under_way(session: AsyncSession, dossier: Dossier, progress: DossierProgress,
                         facts: VersionFacts) -> str | None:
    """The name of the step under way: kept on the progress row, or, for a dossier not moved since its submission
    (or since before migration 0024), worked out as a transition would have named it."""
    if progress.step_under_way is not None:
        return progress.step_under_way
    return await _worked_out_name(session, dossier, progress, facts)


async def step_under_way(session: AsyncSession, dossier: Dossier, facts: VersionFacts) -> OpenStep | None:
    """The dossier's step under way, if the agency holds one."""
    progress = await session.get(DossierProgress, dossier.id)
    if progress is None or progress.step_started_at is None:
        return None
    name = await name_under_way(session, dossier, progress, facts)
    if name is None:
        return None
    working_days, hours = step_limit(facts.step_time_limits, name)
    due = (progress.step_due_at if progress.step_under_way is not None
           else await step_due(session, progress.step_started_at, working_days, hours))
    holder = progress.assignee_id if dossier.finished_at is None else None
    measured = progress.paused_at or clock.now()
    return OpenStep(step=name, holder_id=holder, holder_name=await _holder_name(session, holder),
                    started_at=progress.step_started_at, handed_over_at=progress.step_handed_over_at,
                    allowance_working_days=working_days,
                    allowance_hours=hours, due_at=due, overran=None if due is None else measured > due)


# In the order completed; nothing makes (ended_at, history_seq) unique, so the id ends the key: a cursor then
# never skips or repeats a step.
_STEP_ORDER = ((StepRecord.ended_at, False), (StepRecord.history_seq, False), (StepRecord.id, False))


def _step_key(step: StepRecord) -> list[Any]:
    return [step.ended_at, step.history_seq, step.id]


async def list_steps(session: AsyncSession, dossier: Dossier, facts: VersionFacts,
                     page: PageParams) -> tuple[list[StepRecord | OpenStep], str | None]:
    """One page of the dossier's slip: its completed steps in the order completed, then the step under way
    (after the last completed one: on the last page, or alone on a page of its own when the completed steps
    fill the one before), and the cursor of the next page."""
    under_way = await step_under_way(session, dossier, facts)
    stmt = select(StepRecord).where(StepRecord.dossier_id == dossier.id)
    rows, cursor = await keyset_page(session, stmt, order=_STEP_ORDER, params=page, key=_step_key)
    items: list[StepRecord | OpenStep] = list(rows)
    if cursor is None and under_way is not None:
        if len(items) < page.limit:
            items.append(under_way)
        else:  # a full page of completed steps: the step under way is the next page
            cursor = encode_cursor(_step_key(rows[-1]))
    return items, cursor


async def whole_slip(session: AsyncSession, dossier: Dossier, facts: VersionFacts, *,
                     limit: int) -> tuple[list[StepRecord | OpenStep], bool]:
    """The dossier's whole slip for the printed form (completed steps in the order completed, then the step under
    way), at most `limit` completed steps; True when more were left out."""
    stmt = (select(StepRecord).where(StepRecord.dossier_id == dossier.id)
            .order_by(*[column for column, _ in _STEP_ORDER]).limit(limit + 1))
    rows: list[StepRecord | OpenStep] = list((await session.execute(stmt)).scalars())
    if len(rows) > limit:
        return rows[:limit], True
    under_way = await step_under_way(session, dossier, facts)
    return rows + ([under_way] if under_way is not None else []), False

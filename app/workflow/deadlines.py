"""Deadline arithmetic in Vietnamese working days (issue 7, DOMAIN.md "Time"). Pure functions.

The rules, as the issue defines them:
- a dossier received after the end of the working day (17:00 local, `DVC_WORKING_DAY_END_HOUR`), or on a
  non-working day, counts as received on the next working day (its *effective reception date*); except that an
  agency whose desk opens on Saturday mornings receives on an ordinary Saturday until the morning's end
  (`DVC_SATURDAY_MORNING_END`): such a reception counts for that Saturday, which is still not a working day
  (desk hours change when a dossier can be received, not how days are counted);
- day 1 is the first working day after the effective reception date; the due time is the end of the
  working day (17:00 Asia/Ho_Chi_Minh) on the last day, returned as an aware UTC datetime;
- time spent waiting on the applicant either *pauses* the clock (the due date moves out by the working
  days spent waiting, never in) or *restarts* it (a fresh due date from the new reception).

Example: received Wednesday 2025-01-22 10:00 local, 5 working days, Tết in between -> 2025-02-05 17:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from app.core.clock import LOCAL_TZ
from app.core.settings import get_settings
from app.workflow.calendar import WorkingCalendar


def _end_hour(end_hour: int | None) -> int:
    return get_settings().working_day_end_hour if end_hour is None else end_hour


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def end_of_working_day(day: date, *, end_hour: int | None = None) -> datetime:
    """17:00 local (the configured end hour) on `day`, in UTC."""
    return datetime.combine(day, time(_end_hour(end_hour)), tzinfo=LOCAL_TZ).astimezone(UTC)


def effective_reception_date(received_at: datetime, calendar: WorkingCalendar, *,
                             end_hour: int | None = None, saturday_until: time | None = None) -> date:
    """The day a reception counts for: that day, or the next day the desk receives if after hours/closed.

    "After 17:00" is strict: 17:00:00 exactly still counts for the day, 17:00:01 does not. `saturday_until` is
    the end of the agency's Saturday-morning desk hours (None: closed on Saturdays); until then (inclusive) an
    ordinary Saturday's reception counts for the Saturday itself, not a working day, so day 1 is the next one.
    A reception after hours or on a closed day before such a Saturday counts for that Saturday too: it is
    waiting in the desk's tray when the desk opens, and must not fall due later than one handed in then.
    """
    _require_aware(received_at, "received_at")
    local = received_at.astimezone(LOCAL_TZ)
    day = local.date()
    if calendar.is_working_day(day):
        if local.time() <= time(_end_hour(end_hour)):
            return day
    elif saturday_until is not None and local.time() <= saturday_until and calendar.is_ordinary_saturday(day):
        return day
    return _next_receiving_day(day, calendar, saturday_until)


def _next_receiving_day(day: date, calendar: WorkingCalendar, saturday_until: time | None) -> date:
    """The first day after `day` on which the desk receives: a working day, or an ordinary Saturday morning."""
    following = calendar.next_working_day(day)
    if saturday_until is None:
        return following
    candidate = day + timedelta(days=1)
    while candidate < following:
        if calendar.is_ordinary_saturday(candidate):
            return candidate
        candidate += timedelta(days=1)
    return following


def due_date(received_at: datetime, processing_days: int, calendar: WorkingCalendar, *,
             end_hour: int | None = None, saturday_until: time | None = None) -> date:
    """The last working day of the allowance (local date)."""
    if processing_days < 0:
        raise ValueError("processing_days must not be negative")
    start = effective_reception_date(received_at, calendar, end_hour=end_hour, saturday_until=saturday_until)
    if processing_days == 0:  # received on a Saturday morning: the Saturday is no working day to fall due on
        return calendar.working_day_on_or_after(start)
    return calendar.add_working_days(start, processing_days)


def due_at(received_at: datetime, processing_days: int, calendar: WorkingCalendar, *,
           end_hour: int | None = None, saturday_until: time | None = None) -> datetime:
    """When a dossier received at `received_at` with `processing_days` working days falls due (aware UTC).

    Zero days means the end of the effective reception day itself (the next working day's after a Saturday).
    """
    last = due_date(received_at, processing_days, calendar, end_hour=end_hour, saturday_until=saturday_until)
    return end_of_working_day(last, end_hour=end_hour)


def working_days_between(start: datetime, end: datetime, calendar: WorkingCalendar, *,
                         end_hour: int | None = None, saturday_until: time | None = None) -> int:
    """Working days that elapsed from `start` to `end` (e.g. waiting on the applicant); never negative.

    Each moment is taken as its effective working day, like a reception: a supplement requested Monday
    and answered Wednesday (in hours) cost two working days (Tuesday, Wednesday); one requested and
    answered on the same working day cost none.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return 0
    first = effective_reception_date(start, calendar, end_hour=end_hour, saturday_until=saturday_until)
    last = effective_reception_date(end, calendar, end_hour=end_hour, saturday_until=saturday_until)
    return max(0, calendar.count_working_days(first, last))


def extend_for_pause(due: datetime, paused_from: datetime, resumed_at: datetime, calendar: WorkingCalendar,
                     *, end_hour: int | None = None, saturday_until: time | None = None) -> datetime:
    """The due date after a pause: moved out by the working days spent waiting; never earlier than `due`.

    The time of day of `due` is kept (normally the end of the working day).
    """
    _require_aware(due, "due")
    if resumed_at < paused_from:
        raise ValueError("resumed_at is before paused_from")
    waited = working_days_between(paused_from, resumed_at, calendar, end_hour=end_hour,
                                  saturday_until=saturday_until)
    if waited == 0:
        return due
    local_due = due.astimezone(LOCAL_TZ)
    moved = calendar.add_working_days(local_due.date(), waited)
    return datetime.combine(moved, local_due.timetz()).astimezone(UTC)


def restart(received_again_at: datetime, processing_days: int, calendar: WorkingCalendar, *,
            end_hour: int | None = None, saturday_until: time | None = None) -> datetime:
    """The restart rule: a fresh due date counted from the supplement's reception, as for a new dossier."""
    return due_at(received_again_at, processing_days, calendar, end_hour=end_hour, saturday_until=saturday_until)


def is_overdue(due: datetime, now: datetime) -> bool:
    """Late once the due moment has passed (a dossier finished at 17:00:00 on the last day is on time)."""
    _require_aware(due, "due")
    _require_aware(now, "now")
    return now > due


# How a finished piece of work stood against its deadline, as the one-stop forms print it (form 05's "trước hạn /
# đúng hạn / quá hạn", form 06's register): the keys, and the words printed.
TIMELINESS_VI = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}


def timeliness(done_at: datetime, due: datetime) -> str:
    """`early`: done on a local day before the due moment's day; `on_time`: on that day, not after the due moment;
    `late`: after it (as `is_overdue`: done at 17:00:00 on the last day is on time)."""
    if is_overdue(due, done_at):
        return "late"
    return "early" if done_at.astimezone(LOCAL_TZ).date() < due.astimezone(LOCAL_TZ).date() else "on_time"


def at_risk_cutoff(now: datetime, n: int, calendar: WorkingCalendar, *, end_hour: int | None = None) -> datetime:
    """The end of the n-th working day after today's effective working day (n == 0: end of today's).

    For queries: a dossier is at risk when `now <= due_at <= at_risk_cutoff(now, n, calendar)`.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    today = effective_reception_date(now, calendar, end_hour=end_hour)
    return end_of_working_day(calendar.add_working_days(today, n), end_hour=end_hour)


def due_within_working_days(due: datetime, now: datetime, n: int, calendar: WorkingCalendar, *,
                            end_hour: int | None = None) -> bool:
    """Not yet overdue, and due by the end of the n-th working day from now (the officials' at-risk queue)."""
    if is_overdue(due, now):
        return False
    return due <= at_risk_cutoff(now, n, calendar, end_hour=end_hour)

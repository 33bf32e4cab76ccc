"""Properties of the working calendar and deadlines, over random dates, overrides and pauses (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.core.clock import LOCAL_TZ
from app.workflow import deadlines
from app.workflow.calendar import DayOverride, WorkingCalendar

# Years the package's lunar tables and swaps cover well, Tết included.
DAYS = st.dates(min_value=date(2010, 1, 1), max_value=date(2035, 12, 31))
MOMENTS = st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2035, 12, 31),
                       timezones=st.just(UTC))
# The agency's desk: closed on Saturdays (None) or open until the end of the morning.
SATURDAY_UNTIL = st.sampled_from([None, time(11, 30), time(12, 0)])
OVERRIDES = st.dictionaries(DAYS, st.builds(DayOverride, working=st.booleans(), note=st.just("test")),
                            max_size=30)


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    return WorkingCalendar(draw(OVERRIDES))


@given(day=DAYS, n=st.integers(min_value=0, max_value=120), calendar=calendars())
def test_adding_n_working_days_then_counting_back_gives_n(day: date, n: int, calendar: WorkingCalendar) -> None:
    later = calendar.add_working_days(day, n)
    assert calendar.count_working_days(day, later) == n
    if n:
        assert calendar.is_working_day(later)
        assert calendar.add_working_days(later, -n) <= day


@given(day=DAYS, n=st.integers(min_value=1, max_value=60), calendar=calendars())
def test_going_back_from_a_working_day_then_counting_forward_gives_n(day: date, n: int,
                                                                       calendar: WorkingCalendar) -> None:
    start = calendar.working_day_on_or_after(day)
    earlier = calendar.add_working_days(start, -n)
    assert calendar.count_working_days(earlier, start) == n


@given(received=MOMENTS, n=st.integers(min_value=0, max_value=90), calendar=calendars(),
       saturday_until=SATURDAY_UNTIL)
def test_no_due_date_falls_on_a_non_working_day(received: datetime, n: int, calendar: WorkingCalendar,
                                                saturday_until: time | None) -> None:
    due = deadlines.due_at(received, n, calendar, saturday_until=saturday_until)
    local_due = due.astimezone(LOCAL_TZ)
    assert calendar.is_working_day(local_due.date())
    assert (local_due.hour, local_due.minute) == (17, 0)
    assert due > received
    effective = deadlines.effective_reception_date(received, calendar, saturday_until=saturday_until)
    if calendar.is_working_day(effective):
        assert calendar.count_working_days(effective, local_due.date()) == n
    else:  # received on or before a Saturday morning at a desk open then: day 1 is the next working day
        assert saturday_until is not None and calendar.is_ordinary_saturday(effective)
        assert effective >= received.astimezone(LOCAL_TZ).date()
        assert calendar.count_working_days(effective, local_due.date()) == max(n, 1)


@given(received=MOMENTS, n=st.integers(min_value=0, max_value=60), calendar=calendars(),
       saturday_until=SATURDAY_UNTIL)
def test_a_later_reception_never_gives_an_earlier_due_date(received: datetime, n: int, calendar: WorkingCalendar,
                                                           saturday_until: time | None) -> None:
    for hours in (1, 8, 30):
        assert deadlines.due_at(received + timedelta(hours=hours), n, calendar,
                                saturday_until=saturday_until) >= deadlines.due_at(
            received, n, calendar, saturday_until=saturday_until)


@given(received=MOMENTS, n=st.integers(min_value=0, max_value=60), calendar=calendars(),
       saturday_until=SATURDAY_UNTIL)
def test_a_saturday_desk_never_gives_a_later_due_date_than_a_closed_one(
        received: datetime, n: int, calendar: WorkingCalendar, saturday_until: time | None) -> None:
    assert (deadlines.due_at(received, n, calendar, saturday_until=saturday_until)
            <= deadlines.due_at(received, n, calendar))


@given(received=MOMENTS, n=st.integers(min_value=1, max_value=60),
       pause_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
       waited=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=120)),
       calendar=calendars(), saturday_until=SATURDAY_UNTIL)
def test_pauses_never_shorten_a_deadline(received: datetime, n: int, pause_after: timedelta, waited: timedelta,
                                         calendar: WorkingCalendar, saturday_until: time | None) -> None:
    due = deadlines.due_at(received, n, calendar, saturday_until=saturday_until)
    paused_from = received + pause_after
    resumed_at = paused_from + waited
    extended = deadlines.extend_for_pause(due, paused_from, resumed_at, calendar, saturday_until=saturday_until)
    assert extended >= due
    assert calendar.is_working_day(extended.astimezone(LOCAL_TZ).date())
    lost = deadlines.working_days_between(paused_from, resumed_at, calendar, saturday_until=saturday_until)
    assert calendar.count_working_days(due.astimezone(LOCAL_TZ).date(),
                                       extended.astimezone(LOCAL_TZ).date()) == lost
    # Waiting longer never gives an earlier due date.
    longer = deadlines.extend_for_pause(due, paused_from, resumed_at + timedelta(days=1), calendar,
                                        saturday_until=saturday_until)
    assert longer >= extended


@given(started=MOMENTS, n=st.integers(min_value=1, max_value=30), waited=st.integers(min_value=0, max_value=60),
       calendar=calendars())
def test_a_step_moved_out_by_the_working_days_waited_falls_due_as_a_paused_due_date_moves(
        started: datetime, n: int, waited: int, calendar: WorkingCalendar) -> None:
    """After a supplement wait a step's start moves out by the working days the dossier's due date moves by
    (app.workflow.steps.resume_step): its deadline then moves exactly as `extend_for_pause` moves a due date,
    whatever day and hour the step began (a weekend, a holiday, after hours)."""
    from app.workflow.steps import after_working_days

    moved = after_working_days(started, waited, calendar)
    due = deadlines.due_at(started, n, calendar)
    local_due = due.astimezone(LOCAL_TZ)
    expected = datetime.combine(calendar.add_working_days(local_due.date(), waited), local_due.timetz())
    assert deadlines.due_at(moved, n, calendar) == expected
    assert moved >= started and (waited == 0 or calendar.is_working_day(moved.astimezone(LOCAL_TZ).date()))


@given(started=MOMENTS, used=st.integers(min_value=0, max_value=60 * 60), waited=st.integers(min_value=0,
       max_value=60 * 60), hours=st.integers(min_value=1, max_value=60), calendar=calendars())
def test_a_step_allowed_in_hours_gets_back_exactly_the_working_time_waited(
        started: datetime, used: int, waited: int, hours: int, calendar: WorkingCalendar) -> None:
    from app.workflow.steps import add_working_hours, add_working_time, working_time_between

    paused = add_working_time(started, timedelta(minutes=used), calendar)
    resumed = add_working_time(paused, timedelta(minutes=waited), calendar)
    assert working_time_between(paused, resumed, calendar) == timedelta(minutes=waited)
    moved = add_working_time(started, timedelta(minutes=waited), calendar)
    assert add_working_hours(moved, hours, calendar) == add_working_time(
        started, timedelta(minutes=waited, hours=hours), calendar)

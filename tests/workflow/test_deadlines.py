"""Deadline arithmetic on fixed, real dates (issue 7 "Deadline arithmetic")."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from app.core.clock import LOCAL_TZ
from app.workflow import deadlines
from app.workflow.calendar import DayOverride, WorkingCalendar

CALENDAR = WorkingCalendar()


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LOCAL_TZ)


def test_the_issue_example_across_tet_2025() -> None:
    due = deadlines.due_at(local(2025, 1, 22, 10, 0), 5, CALENDAR)
    assert due == local(2025, 2, 5, 17, 0)
    assert due.tzinfo is UTC
    assert due == datetime(2025, 2, 5, 10, 0, tzinfo=UTC)


def test_received_after_17_local_counts_from_the_next_working_day() -> None:
    received = local(2025, 3, 4, 17, 30)  # Tuesday
    assert deadlines.effective_reception_date(received, CALENDAR) == date(2025, 3, 5)
    assert deadlines.due_at(received, 1, CALENDAR) == local(2025, 3, 6, 17)
    # The same reception in UTC (10:30Z) is the same moment.
    assert deadlines.due_at(datetime(2025, 3, 4, 10, 30, tzinfo=UTC), 1, CALENDAR) == local(2025, 3, 6, 17)


def test_received_at_17_sharp_still_counts_for_the_day() -> None:
    assert deadlines.effective_reception_date(local(2025, 3, 4, 17, 0), CALENDAR) == date(2025, 3, 4)
    assert deadlines.effective_reception_date(local(2025, 3, 4, 17, 0, 1), CALENDAR) == date(2025, 3, 5)


def test_received_on_sunday_counts_as_monday() -> None:
    received = local(2025, 3, 9, 9, 0)
    assert deadlines.effective_reception_date(received, CALENDAR) == date(2025, 3, 10)
    # Day 1 is the first working day after Monday.
    assert deadlines.due_at(received, 1, CALENDAR) == local(2025, 3, 11, 17)


def test_received_on_a_tet_day_counts_from_the_first_day_back() -> None:
    received = local(2025, 1, 30, 9, 0)
    assert deadlines.effective_reception_date(received, CALENDAR) == date(2025, 2, 3)
    assert deadlines.due_at(received, 2, CALENDAR) == local(2025, 2, 5, 17)


def test_received_friday_evening_before_tet() -> None:
    assert deadlines.due_at(local(2025, 1, 24, 18, 0), 1, CALENDAR) == local(2025, 2, 4, 17)


NOON = time(12, 0)


def test_a_saturday_reception_counts_for_monday_where_the_desk_is_closed_on_saturdays() -> None:
    received = local(2025, 3, 8, 9, 0)
    assert deadlines.effective_reception_date(received, CALENDAR) == date(2025, 3, 10)
    assert deadlines.due_at(received, 1, CALENDAR) == local(2025, 3, 11, 17)


def test_a_saturday_morning_reception_at_an_open_desk_counts_for_the_saturday() -> None:
    # The Saturday is still no working day: day 1 is Monday.
    received = local(2025, 3, 8, 9, 0)
    assert deadlines.effective_reception_date(received, CALENDAR, saturday_until=NOON) == date(2025, 3, 8)
    assert deadlines.due_at(received, 1, CALENDAR, saturday_until=NOON) == local(2025, 3, 10, 17)
    assert deadlines.due_at(received, 5, CALENDAR, saturday_until=NOON) == local(2025, 3, 14, 17)
    # Zero days: due at the end of the next working day, not on the Saturday afternoon.
    assert deadlines.due_at(received, 0, CALENDAR, saturday_until=NOON) == local(2025, 3, 10, 17)


def test_the_saturday_desk_closes_at_the_end_of_the_morning() -> None:
    assert deadlines.effective_reception_date(local(2025, 3, 8, 12, 0), CALENDAR, saturday_until=NOON) == date(
        2025, 3, 8)
    assert deadlines.effective_reception_date(local(2025, 3, 8, 12, 0, 1), CALENDAR,
                                              saturday_until=NOON) == date(2025, 3, 10)
    assert deadlines.effective_reception_date(local(2025, 3, 8, 11, 45), CALENDAR,
                                              saturday_until=time(11, 30)) == date(2025, 3, 10)


def test_a_friday_evening_reception_counts_for_the_saturday_desk_not_later() -> None:
    # Otherwise handing it in on Friday at 17:30 would fall due a day after handing it in on Saturday at 9:00.
    friday_evening = local(2025, 3, 7, 17, 30)
    assert deadlines.effective_reception_date(friday_evening, CALENDAR, saturday_until=NOON) == date(2025, 3, 8)
    assert deadlines.due_at(friday_evening, 1, CALENDAR, saturday_until=NOON) == deadlines.due_at(
        local(2025, 3, 8, 9), 1, CALENDAR, saturday_until=NOON)
    # Closed on Saturdays: Friday evening still counts for Monday.
    assert deadlines.effective_reception_date(friday_evening, CALENDAR) == date(2025, 3, 10)
    # A holiday Friday before an ordinary Saturday: Thursday evening's reception waits for the Saturday too.
    holiday_friday = WorkingCalendar({date(2025, 3, 7): DayOverride(working=False, note="closed")})
    assert deadlines.effective_reception_date(local(2025, 3, 6, 18), holiday_friday,
                                              saturday_until=NOON) == date(2025, 3, 8)


def test_no_saturday_desk_on_sundays_holidays_or_saturdays_an_override_closes() -> None:
    assert deadlines.effective_reception_date(local(2025, 3, 9, 9), CALENDAR, saturday_until=NOON) == date(
        2025, 3, 10)
    # 30 April 2022, Reunification Day, fell on a Saturday; the next working day was Wednesday 4 May.
    assert deadlines.effective_reception_date(local(2022, 4, 30, 9), CALENDAR, saturday_until=NOON) == date(
        2022, 5, 4)
    closed = WorkingCalendar({date(2025, 3, 8): DayOverride(working=False, note="office closed")})
    assert deadlines.effective_reception_date(local(2025, 3, 8, 9), closed, saturday_until=NOON) == date(
        2025, 3, 10)


def test_a_supplement_answered_on_a_saturday_morning_ends_the_wait_that_saturday() -> None:
    due = deadlines.due_at(local(2025, 3, 3, 9), 5, CALENDAR)  # Monday: due Monday 10 March
    paused, answered = local(2025, 3, 6, 10), local(2025, 3, 8, 10)  # Thursday -> Saturday morning
    assert deadlines.working_days_between(paused, answered, CALENDAR, saturday_until=NOON) == 1  # Friday
    assert deadlines.working_days_between(paused, answered, CALENDAR) == 2  # Friday, Monday
    assert deadlines.extend_for_pause(due, paused, answered, CALENDAR, saturday_until=NOON) == local(2025, 3, 11, 17)


def test_an_override_that_makes_a_saturday_a_working_day_counts_it() -> None:
    saturday = date(2027, 3, 6)
    calendar = WorkingCalendar({saturday: DayOverride(working=True, note="swapped")})
    received = local(2027, 3, 5, 10, 0)  # Friday
    assert deadlines.due_at(received, 1, CALENDAR) == local(2027, 3, 8, 17)
    assert deadlines.due_at(received, 1, calendar) == local(2027, 3, 6, 17)
    # Received on that Saturday, it counts for the Saturday itself.
    assert deadlines.effective_reception_date(local(2027, 3, 6, 9), calendar) == saturday


def test_zero_days_is_the_end_of_the_reception_day() -> None:
    assert deadlines.due_at(local(2025, 3, 4, 9), 0, CALENDAR) == local(2025, 3, 4, 17)


def test_end_hour_is_configurable() -> None:
    received = local(2025, 3, 4, 16, 30)
    assert deadlines.due_at(received, 1, CALENDAR, end_hour=16) == local(2025, 3, 6, 16)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        deadlines.due_at(datetime(2025, 1, 22, 10), 5, CALENDAR)
    with pytest.raises(ValueError):
        deadlines.due_at(local(2025, 1, 22, 10), -1, CALENDAR)


def test_pause_moves_the_due_date_by_the_working_days_waited() -> None:
    due = local(2025, 3, 14, 17)  # Friday
    # Requested Monday 10:00, supplied Wednesday 15:00: Tuesday and Wednesday were lost.
    paused, resumed = local(2025, 3, 10, 10), local(2025, 3, 12, 15)
    assert deadlines.working_days_between(paused, resumed, CALENDAR) == 2
    assert deadlines.extend_for_pause(due, paused, resumed, CALENDAR) == local(2025, 3, 18, 17)


def test_a_pause_within_one_working_day_costs_nothing() -> None:
    due = local(2025, 3, 14, 17)
    assert deadlines.extend_for_pause(due, local(2025, 3, 10, 9), local(2025, 3, 10, 16), CALENDAR) == due


def test_a_pause_over_tet_counts_only_working_days() -> None:
    due = local(2025, 1, 24, 17)
    paused, resumed = local(2025, 1, 23, 10), local(2025, 2, 3, 10)
    assert deadlines.working_days_between(paused, resumed, CALENDAR) == 2  # Friday 24 Jan, Monday 3 Feb
    assert deadlines.extend_for_pause(due, paused, resumed, CALENDAR) == local(2025, 2, 4, 17)


def test_pause_refuses_a_resume_before_the_pause() -> None:
    with pytest.raises(ValueError):
        deadlines.extend_for_pause(local(2025, 3, 14, 17), local(2025, 3, 12), local(2025, 3, 10), CALENDAR)


def test_restart_counts_afresh_from_the_new_reception() -> None:
    assert deadlines.restart(local(2025, 1, 22, 10), 5, CALENDAR) == local(2025, 2, 5, 17)


def test_overdue_and_at_risk() -> None:
    due = local(2025, 3, 6, 17)  # Thursday
    assert not deadlines.is_overdue(due, due)
    assert deadlines.is_overdue(due, local(2025, 3, 6, 17, 0, 1))
    # Wednesday morning: due within 1 working day (by Thursday 17:00), not within 0.
    assert deadlines.due_within_working_days(due, local(2025, 3, 5, 9), 1, CALENDAR)
    assert not deadlines.due_within_working_days(due, local(2025, 3, 5, 9), 0, CALENDAR)
    assert deadlines.due_within_working_days(due, local(2025, 3, 6, 9), 0, CALENDAR)
    # Tuesday: two working days away.
    assert not deadlines.due_within_working_days(due, local(2025, 3, 4, 9), 1, CALENDAR)
    # Late dossiers are overdue, not "at risk".
    assert not deadlines.due_within_working_days(due, local(2025, 3, 7, 9), 1, CALENDAR)
    # Friday evening before Tết: the next working day is 3 February.
    assert deadlines.at_risk_cutoff(local(2025, 1, 24, 18), 0, CALENDAR) == local(2025, 2, 3, 17)

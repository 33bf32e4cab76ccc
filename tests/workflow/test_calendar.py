"""The working calendar on fixed, real dates: the package's holidays and swaps, and overrides winning."""

from __future__ import annotations

from datetime import date

from app.workflow.calendar import DayOverride, WorkingCalendar

CALENDAR = WorkingCalendar()


def test_plain_weekdays_work_and_weekends_do_not() -> None:
    assert CALENDAR.is_working_day(date(2025, 1, 23))  # Thursday
    assert CALENDAR.reason(date(2025, 1, 23)) == "working day"
    assert not CALENDAR.is_working_day(date(2025, 1, 25))  # Saturday
    assert not CALENDAR.is_working_day(date(2025, 1, 26))  # Sunday
    assert CALENDAR.reason(date(2025, 1, 26)) == "weekend"


def test_tet_2025_is_off_including_the_day_before_new_years_eve() -> None:
    # Lunar new year 2025 fell on Wednesday 29 January; civil servants were off 27 Jan - 31 Jan.
    for day in range(27, 32):
        assert not CALENDAR.is_working_day(date(2025, 1, day)), day
    assert CALENDAR.reason(date(2025, 1, 29)) == "Lunar New Year"
    assert CALENDAR.is_working_day(date(2025, 2, 3))


def test_hung_kings_day_follows_the_lunar_calendar() -> None:
    assert not CALENDAR.is_working_day(date(2025, 4, 7))  # lunar 10/3 in 2025
    assert CALENDAR.is_working_day(date(2024, 4, 8))  # a Monday; in 2024 it was Thursday 18 April
    assert not CALENDAR.is_working_day(date(2024, 4, 18))


def test_package_swapped_saturday_is_a_working_day_and_the_swapped_friday_is_not() -> None:
    # 2025: Saturday 26 April worked so that Friday 2 May joins the 30 April - 1 May holidays.
    assert CALENDAR.is_working_day(date(2025, 4, 26))
    assert CALENDAR.reason(date(2025, 4, 26)) == "swapped working day"
    assert not CALENDAR.is_working_day(date(2025, 5, 2))
    assert "substituted" in CALENDAR.reason(date(2025, 5, 2))


def test_vietnam_culture_day_is_a_holiday_from_2026_only() -> None:
    assert not CALENDAR.is_working_day(date(2026, 11, 24))
    assert CALENDAR.is_working_day(date(2025, 11, 24))


def test_an_override_makes_a_saturday_a_working_day() -> None:
    saturday = date(2027, 3, 6)
    calendar = WorkingCalendar({saturday: DayOverride(working=True, note="swap for 2027-04-30 bridge")})
    assert not CALENDAR.is_working_day(saturday)
    assert calendar.is_working_day(saturday)
    assert calendar.reason(saturday) == "override: swap for 2027-04-30 bridge"
    assert calendar.next_working_day(date(2027, 3, 5)) == saturday
    assert CALENDAR.next_working_day(date(2027, 3, 5)) == date(2027, 3, 8)


def test_an_override_wins_over_a_package_holiday_and_can_take_a_weekday_off() -> None:
    calendar = WorkingCalendar({date(2025, 1, 29): True, date(2025, 3, 5): DayOverride(False, "storm")})
    assert calendar.is_working_day(date(2025, 1, 29))
    assert calendar.reason(date(2025, 1, 29)) == "override: working day"
    assert not calendar.is_working_day(date(2025, 3, 5))
    assert calendar.reason(date(2025, 3, 5)) == "override: storm"


def test_an_override_can_undo_a_package_swap() -> None:
    calendar = WorkingCalendar({date(2025, 4, 26): DayOverride(False, "swap cancelled")})
    assert not calendar.is_working_day(date(2025, 4, 26))


def test_add_and_count_working_days_across_tet() -> None:
    wednesday = date(2025, 1, 22)
    assert CALENDAR.add_working_days(wednesday, 0) == wednesday
    assert CALENDAR.add_working_days(wednesday, 3) == date(2025, 2, 3)
    assert CALENDAR.count_working_days(wednesday, date(2025, 2, 3)) == 3
    assert CALENDAR.count_working_days(date(2025, 2, 3), wednesday) == -3
    assert CALENDAR.add_working_days(date(2025, 2, 3), -3) == wednesday
    assert CALENDAR.next_working_day(date(2025, 1, 24)) == date(2025, 2, 3)
    assert CALENDAR.working_day_on_or_after(date(2025, 1, 24)) == date(2025, 1, 24)
    assert CALENDAR.working_day_on_or_after(date(2025, 1, 25)) == date(2025, 2, 3)


def test_days_lists_each_day_with_its_reason() -> None:
    days = list(CALENDAR.days(date(2025, 1, 24), date(2025, 1, 27)))
    assert [d for d, _, _ in days] == [date(2025, 1, 24), date(2025, 1, 25), date(2025, 1, 26), date(2025, 1, 27)]
    assert [w for _, w, _ in days] == [True, False, False, False]
    assert days[3][2] == "29 of Lunar New Year"

"""The Vietnamese working calendar: which days count towards a deadline, and why.

Pure: no database, no clock. The `holidays` package supplies Monday-Friday weeks, the public holidays
(lunar ones included, Vietnam Culture Day from 2026) and, for the years it covers, the Saturdays the
government swaps into working days (`weekend_workdays`). Overrides, entered by a system admin for swaps
announced after the package's release, win over the package. Saturday-morning desk hours are an agency's, not
the calendar's: they change when a dossier can be received, not how days are counted (DOMAIN.md "Time"); the
calendar only says which Saturdays are ordinary ones, on which such a desk opens.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays

# Pinned so that holiday names do not follow the server's LANG.
HOLIDAY_LANGUAGE = "en_US"

REASON_WORKING = "working day"
REASON_WEEKEND = "weekend"
REASON_SWAPPED = "swapped working day"
REASON_OVERRIDE_PREFIX = "override: "


@dataclass(frozen=True)
class DayOverride:
    """An admin's decision for one date (a swapped weekday off, a Saturday worked, a late-announced holiday)."""

    working: bool
    note: str = ""


@lru_cache(maxsize=256)
def _holidays_around(year: int) -> holidays.HolidayBase:
    """The package's calendar for `year` and its neighbours, built once per process.

    Neighbours are included because a swap can cross the new year (the package files the 2015 swap's
    worked Saturday, 2014-12-27, under 2015). `expand=False` keeps the cached object immutable once built.
    """
    return holidays.country_holidays("VN", years=range(year - 1, year + 2), language=HOLIDAY_LANGUAGE,
                                     expand=False)


class WorkingCalendar:
    """Working days per the package, corrected by `overrides` (date -> DayOverride, or date -> bool)."""

    def __init__(self, overrides: Mapping[date, DayOverride | bool] | None = None) -> None:
        self._overrides: dict[date, DayOverride] = {
            day: value if isinstance(value, DayOverride) else DayOverride(working=bool(value))
            for day, value in (overrides or {}).items()
        }

    @property
    def overrides(self) -> Mapping[date, DayOverride]:
        return self._overrides

    def is_working_day(self, day: date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return override.working
        return bool(_holidays_around(day.year).is_working_day(day))

    def is_ordinary_saturday(self, day: date) -> bool:
        """A Saturday off as every week: not a holiday, not a swapped working day, no override."""
        if day.weekday() != 5 or day in self._overrides:
            return False
        package = _holidays_around(day.year)
        return day not in package.weekend_workdays and package.get(day) is None

    def reason(self, day: date) -> str:
        """Why `day` is (not) a working day, for people reading the calendar."""
        override = self._overrides.get(day)
        if override is not None:
            note = override.note.strip() or ("working day" if override.working else "day off")
            return REASON_OVERRIDE_PREFIX + note
        package = _holidays_around(day.year)
        if package.is_weekend(day):
            return REASON_SWAPPED if day in package.weekend_workdays else package.get(day) or REASON_WEEKEND
        return str(package.get(day) or REASON_WORKING)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        return self.add_working_days(day, 1)

    def working_day_on_or_after(self, day: date) -> date:
        return day if self.is_working_day(day) else self.next_working_day(day)

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day` (before it when n < 0); `day` itself for n == 0.

        `day` need not be a working day: day 1 is the first working day after it.
        """
        step = timedelta(days=1 if n >= 0 else -1)
        remaining = abs(n)
        current = day
        while remaining:
            current += step
            if self.is_working_day(current):
                remaining -= 1
        return current

    def count_working_days(self, start_exclusive: date, end_inclusive: date) -> int:
        """Working days in (start, end]; negative when end < start, so that counting back undoes adding."""
        if end_inclusive < start_exclusive:
            return -self.count_working_days(end_inclusive, start_exclusive)
        if end_inclusive == start_exclusive:
            return 0  # (checked first: the day after date.max does not exist)
        return sum(1 for day in _days(start_exclusive + timedelta(days=1), end_inclusive)
                   if self.is_working_day(day))

    def days(self, start: date, end: date) -> Iterator[tuple[date, bool, str]]:
        """(date, working, reason) for each day of [start, end], for the public calendar."""
        for day in _days(start, end):
            yield day, self.is_working_day(day), self.reason(day)


def _days(start: date, end: date) -> Iterator[date]:
    """Each day of [start, end]; counted rather than stepped past `end`, which may be date.max."""
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)

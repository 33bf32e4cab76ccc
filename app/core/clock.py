"""The service's clock. Everything asks here for "now" so tests can fix time in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def local(moment: datetime) -> datetime:
    """A UTC moment as Vietnamese local time (UTC+7, no daylight saving)."""
    return moment.astimezone(LOCAL_TZ)


def local_day_range(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Local days `first`..`last` (both inclusive; either may be open) as [start, end) moments: the local midnight
    of `first` and of the day after `last`. A day at either end of the calendar bounds nothing (its midnight in
    UTC is not a datetime)."""
    start = end = None
    if first is not None and first > date.min + timedelta(days=1):
        start = datetime.combine(first, time.min, tzinfo=LOCAL_TZ)
    if last is not None and last < date.max - timedelta(days=1):
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=LOCAL_TZ)
    return start, end

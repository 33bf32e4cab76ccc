"""The service's clock. Everything asks here for "now" so tests can fix time in one place."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, overload
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ValidationInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: Any) -> Any:
    """Only `YYYY-MM-DD`: pydantic's `date` also takes `1740787200` (a UTC day from epoch seconds, as text or a
    number) and a midnight with any offset, read as that date though the service counts local days."""
    if isinstance(value, date):
        return value
    if not (isinstance(value, str) and ISO_DAY.fullmatch(value)):
        raise ValueError("must be a date as YYYY-MM-DD (a local day in Asia/Ho_Chi_Minh)")
    return value


# Every day a client sends: a local day (Asia/Ho_Chi_Minh), written YYYY-MM-DD.
LocalDay = Annotated[date, BeforeValidator(_iso_day)]


def _utc(value: datetime) -> datetime:
    """An instant the database can store: in UTC, inside the calendar (`9999-12-31T23:59:59-05:00` is past its
    end once converted, and used to be a 500)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the representable range of dates") from None


# A validity boundary a client sends: with an offset (a naive time is ambiguous, and comparing it with stored times
# was a 500), kept in UTC.
Moment = Annotated[AwareDatetime, AfterValidator(_utc)]


def last_day_of_range(value: date | None, info: ValidationInfo, first: str) -> date | None:
    """For a field validator of a range's last day: not before the field `first` (a list filter ending before it
    starts matched nothing, silently; the reports refuse one)."""
    start = info.data.get(first)
    if value is not None and start is not None and value < start:
        raise ValueError(f"must not be before `{first}`")
    return value


def now() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def column_now() -> datetime:
    """`now` for column defaults: looked up at each call, so a test that replaces `now` moves the columns too
    (`default=now` would keep the function bound at import)."""
    return now()


@overload
def utc_text(moment: datetime) -> str: ...
@overload
def utc_text(moment: None) -> None: ...
def utc_text(moment: datetime | None) -> str | None:
    """A moment as the API writes times (API-CONVENTIONS: RFC 3339, UTC, `Z`), for values inside JSON documents
    (event payloads, history details) that no response model formats."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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

"""The service's clock. Everything asks here for "now" so tests can fix time in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def local(moment: datetime) -> datetime:
    """A UTC moment as Vietnamese local time (UTC+7, no daylight saving)."""
    return moment.astimezone(LOCAL_TZ)

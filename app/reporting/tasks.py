"""The reporting domain's periodic work for `dvc worker`: count yesterday's end-of-day open dossiers once."""

from __future__ import annotations

from datetime import timedelta

from app.core import clock
from app.core.clock import LOCAL_TZ
from app.core.db import get_database
from app.core.worker import register_task
from app.reporting.figures import capture_open_counts


async def capture_yesterday() -> bool:
    """Count the dossiers open at the end of yesterday (local time), unless a worker already has."""
    now = clock.now()
    yesterday = now.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    async with get_database().write_sessions() as session:
        captured = await capture_open_counts(session, yesterday, now)
        await session.commit()
    return captured


# Every five minutes: the first run after local midnight counts the day that just ended, the rest find it done.
register_task("reporting.capture_open_counts", 300.0, capture_yesterday)

"""The reporting domain's periodic work for `dvc worker`: count the dossiers open at the end of each day once,
filling in the days a worker outage missed (app.reporting.rebuild)."""

from __future__ import annotations

import logging
from datetime import date

from app.core import clock
from app.core.db import get_database
from app.core.worker import register_task
from app.reporting.figures import capture_open_counts
from app.reporting.rebuild import captured_days, counted_live, days_to_count, rebuild_open_counts

log = logging.getLogger("app.reporting")


async def capture_missed_days() -> list[date]:
    """Count each recent day without an end-of-day count (the day just ended first), each in its own transaction;
    returns the days this call counted (none when every day is counted, or other workers got there first)."""
    now = clock.now()
    days = days_to_count(now)
    async with get_database().read_sessions() as session:
        captured = await captured_days(session, days)
    missing = [day for day in days if day not in captured]
    counted, failure = [], None
    for day in missing:
        try:
            async with get_database().write_sessions() as session:
                if counted_live(day, now):
                    done = await capture_open_counts(session, day, now)
                else:
                    done = await rebuild_open_counts(session, day)
                await session.commit()
        except Exception as error:  # one day that fails (rolled back, retried next run) holds back no other day
            log.exception("end-of-day count of open dossiers for %s failed", day.isoformat())
            failure = failure or error
            continue
        if done:
            counted.append(day)
    if counted and (len(counted) > 1 or not counted_live(counted[0], now)):
        log.info("end-of-day open dossiers rebuilt from history for %s", ", ".join(d.isoformat() for d in counted))
    if failure is not None:
        raise failure  # the worker reports the task as failed
    return counted


# Every five minutes: the first run after local midnight counts the day that just ended (and any day an outage
# missed), the rest find them done.
register_task("reporting.capture_open_counts", 300.0, capture_missed_days)

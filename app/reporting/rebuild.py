"""End-of-day counts of open dossiers for days the worker missed, rebuilt from the dossiers' history.

`dvc worker` counts the dossiers open at the end of each local day minutes after midnight
(app.reporting.figures.capture_open_counts, from the dossiers as they are then). A worker outage of a night or
more left those days uncounted, and a report on a period ending on one of them counted its open dossiers as they
are when it is read (the live fallback). The task now counts every day of the last
`DVC_OPEN_COUNT_BACKFILL_DAYS` (31 by default) that has no count: the day just ended from the dossiers as they
are (while that is within an hour of its end), any other from the dossiers as they were at its end, replayed
from their history (app.reporting.asof). A rebuilt day's `captured_at` is its end: the moment its figures
describe. Each day is claimed by inserting its capture row first, in its own transaction: of several workers,
one counts a day and the others find it taken (the primary key), and a day is never counted twice. A report on
a day older than the look-back (never counted) rebuilds its count the same way when it is made, without storing
it (app.reporting.figures.open_figures).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import LOCAL_TZ
from app.core.settings import get_settings
from app.reporting.asof import open_counts_at
from app.reporting.figures import claim_day, local_midnight
from app.reporting.models import OpenCount, OpenCountCapture

# The day just ended is counted from the dossiers as they are while this is fresh (what the worker always did);
# later, a dossier changed since the day ended would be counted as it is now, so the day is replayed instead.
LIVE_WINDOW = timedelta(hours=1)


def days_to_count(now: datetime) -> list[date]:
    """The days the task looks at, the day just ended first: the last `DVC_OPEN_COUNT_BACKFILL_DAYS` days."""
    yesterday = now.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    return [yesterday - timedelta(days=n) for n in range(get_settings().open_count_backfill_days)]


def counted_live(day: date, now: datetime) -> bool:
    return now - local_midnight(day + timedelta(days=1)) <= LIVE_WINDOW


async def captured_days(session: AsyncSession, days: list[date]) -> set[date]:
    rows = await session.execute(select(OpenCountCapture.day).where(OpenCountCapture.day >= min(days),
                                                                    OpenCountCapture.day <= max(days)))
    return set(rows.scalars())


async def rebuild_open_counts(session: AsyncSession, day: date) -> bool:
    """Count the dossiers open at the end of local `day` as they were then; False when that day is counted."""
    boundary = local_midnight(day + timedelta(days=1))
    if not await claim_day(session, day, boundary):
        return False
    counts = await open_counts_at(session, boundary)
    if counts:
        await session.execute(insert(OpenCount), [
            {"day": day, "agency_code": agency, "procedure_code": procedure, "received_month": month,
             "total": total, "overdue": overdue, "late": late}
            for (agency, procedure, month), (total, overdue, late) in sorted(counts.items())])
    return True

"""Monthly publication: a month's indicators frozen once (immutable) and public from then on.

The snapshot is the whole province's report for the month (every agency, grouped by agency), computed when
a system administrator publishes it. Only a month that is over can be frozen; a second publication of the
same month is 409 `conflict` (the primary key settles two concurrent ones).
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.problems import ProblemError, not_found, validation_problem
from app.reporting import indicators
from app.reporting.models import IndicatorSnapshot
from app.reporting.schemas import IndicatorReport, SnapshotOut


def month_bounds(period: str) -> tuple[date, date]:
    year, month = (int(p) for p in period.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _out(row: IndicatorSnapshot) -> SnapshotOut:
    return SnapshotOut(period=row.period, created_at=row.created_at,
                       report=IndicatorReport.model_validate(row.content))


async def publish(session: AsyncSession, period: str, actor_id: uuid.UUID) -> SnapshotOut:
    start, end = month_bounds(period)
    if end >= clock.local(clock.now()).date():
        raise validation_problem([{"loc": ["body", "period"], "type": "period_not_over",
                                   "msg": "only a month that is over can be published"}])
    if await session.get(IndicatorSnapshot, period) is not None:
        raise ProblemError("conflict", f"The indicators of {period} are already published; snapshots never change.")
    report = await indicators.report(session, start=start, end=end, agencies=None, procedure=None, agency=None,
                                     group_by="agency")
    row = IndicatorSnapshot(period=period, content=report.model_dump(mode="json", by_alias=True),
                            created_at=clock.now(), created_by=actor_id)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise ProblemError("conflict", f"The indicators of {period} are already published.") from error
    return _out(row)


async def published(session: AsyncSession, period: str) -> SnapshotOut:
    row = (await session.execute(select(IndicatorSnapshot).where(IndicatorSnapshot.period == period)))\
        .scalar_one_or_none()
    if row is None:
        raise not_found("published indicators for this period")
    return _out(row)

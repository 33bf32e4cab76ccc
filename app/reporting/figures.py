"""The raw figures behind the indicators, each one SQL aggregate (no dossier is loaded into Python, but for a
past day never counted).

- `counter_sums`: sums over `reporting_counters` for the period (at most procedures × days rows);
- `open_figures`: dossiers whose clock runs (received or processing, not finished), with how many had fallen
  behind their ORIGINAL due date (app.workflow.progress.fell_behind_at: the public late list's rule, so a late
  supplement wait answered before midnight leaves the dossier overdue in both), and how many count as late
  (overdue, or more than one supplement request when that rule is on). Waiting for a supplement (or for fees,
  before reception) is not counted: those states are left out, except a dossier whose supplement was requested
  after its original due date had passed, which counts as open and overdue like one whose clock runs
  (app.workflow.progress.lateness_counts). For a period that is over, the counts `capture_open_counts` made at
  the end of its last day (or app.reporting.rebuild rebuilt later from the history, for a day a worker outage
  missed); for a day never counted (older than the worker's look-back, or not counted yet), rebuilt from the
  history at its end when the report is made (app.reporting.asof.open_counts_at; not stored, the dossiers open
  then are loaded; each worker keeps the result in memory for DVC_CLOSED_REPORT_CACHE_S); for the current
  period, from the dossiers table through its (state, agency) index — a small set — as they are now;
- `catalogue_figures`: published procedures and those offered fully or partly online (the catalogue as it
  is now); `counter_sums` also says which procedures received an online dossier in the period.
Every figure is keyed by the report's grouping: "" (no grouping), an agency code, a procedure code or a
month "YYYY-MM" (local time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import DateTime, case, cast, func, insert, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import ProcedureVersion
from app.catalogue.service import live_clause
from app.core.clock import LOCAL_TZ
from app.core.settings import get_settings
from app.core.ttlcache import TTLCache
from app.dossiers.models import Dossier
from app.reporting.asof import OpenKey, open_counts_at
from app.reporting.models import COUNTER_COLUMNS, OpenCount, OpenCountCapture, ReportingCounter
from app.workflow.models import DossierProgress
from app.workflow.progress import fell_behind_at, lateness_counts

ONLINE_LEVELS = ("full", "partial")


@dataclass(frozen=True)
class ReportQuery:
    start: date
    end: date  # inclusive
    agencies: frozenset[str] | None  # None: every agency
    procedure: str | None
    group_by: str | None  # agency | procedure | month


@dataclass(frozen=True)
class OpenFigures:
    total: int = 0
    overdue: int = 0
    late: int = 0


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _month_of_moment(session: AsyncSession, column: Any) -> Any:
    """The local month of a UTC timestamp column (Viet Nam has no daylight saving: a fixed +7 hours)."""
    if is_postgres(session):
        return func.to_char(func.timezone("Asia/Ho_Chi_Minh", column), "YYYY-MM")
    return func.strftime("%Y-%m", column, "+7 hours")


def _month_of_day_key(session: AsyncSession, column: Any) -> Any:
    if is_postgres(session):
        # On a timestamp without time zone (no zone conversion per row); formatted in Python.
        return func.date_trunc("month", cast(column, DateTime(timezone=False)))
    return func.strftime("%Y-%m", column)


def _counter_filters(query: ReportQuery) -> list[Any]:
    filters = [ReportingCounter.day >= query.start, ReportingCounter.day <= query.end]
    if query.agencies is not None:
        filters.append(ReportingCounter.agency_code.in_(sorted(query.agencies)))
    if query.procedure is not None:
        filters.append(ReportingCounter.procedure_code == query.procedure)
    return filters


@dataclass
class CounterFigures:
    sums: dict[str, dict[str, int]]  # by key, each counter column summed
    used: dict[str, set[str]]  # by key, procedures that received an online dossier


def _month_name(value: Any) -> str:
    """Keys as text: codes and SQLite months are already; PostgreSQL's truncated months are timestamps."""
    return value if isinstance(value, str) else f"{value.year:04d}-{value.month:02d}"


def _counter_key(session: AsyncSession, query: ReportQuery) -> Any:
    if query.group_by == "agency":
        return ReportingCounter.agency_code
    if query.group_by == "procedure":
        return ReportingCounter.procedure_code
    if query.group_by == "month":
        return _month_of_day_key(session, ReportingCounter.day)
    return literal("")


async def counter_sums(session: AsyncSession, query: ReportQuery) -> CounterFigures:
    """Two scans of the period's counter rows: the sums per key, and the (key, procedure) pairs that received
    an online dossier (at most procedures × months rows come back)."""
    if is_postgres(session):  # room to hash-aggregate a province-year in memory
        await session.execute(text("SET LOCAL work_mem = '32MB'"))
    key = _counter_key(session, query).label("k")
    sums = [func.sum(getattr(ReportingCounter, c)).label(c) for c in COUNTER_COLUMNS]
    stmt = select(key, *sums).where(*_counter_filters(query))
    if query.group_by:
        stmt = stmt.group_by(key)
    out: dict[str, dict[str, int]] = {}
    for row in (await session.execute(stmt)).mappings():
        values = {c: int(row[c] or 0) for c in COUNTER_COLUMNS}
        if any(values.values()):
            out[_month_name(row["k"])] = values
    pairs = (select(key, ReportingCounter.procedure_code).distinct()
             .where(*_counter_filters(query), ReportingCounter.submitted_online > 0))
    used: dict[str, set[str]] = defaultdict(set)
    for name, procedure in (await session.execute(pairs)).all():
        used[_month_name(name)].add(procedure)
    return CounterFigures(out, dict(used))


@dataclass(frozen=True)
class OpenAt:
    figures: dict[str, OpenFigures]
    counted_at: datetime  # when these open dossiers were counted


def _open_counts(keys: list[Any], *, grouped: bool, overdue_at: datetime, received_before: datetime) -> Any:
    """Dossiers open now with their clock running (or paused after their original due date), received before
    `received_before` (grouped by `keys` when `grouped`), with how many had fallen behind their original due date
    by `overdue_at` (app.workflow.progress.fell_behind_at) and how many count as late."""
    original_due = func.coalesce(DossierProgress.original_due_at, Dossier.due_at)
    overdue = fell_behind_at() < overdue_at  # as the public late list judges it
    late = overdue
    if get_settings().indicator_multi_supplement_late:
        late = overdue | (func.coalesce(DossierProgress.supplement_requests, 0) > 1)
    stmt = (select(*keys, func.count().label("total"),
                   func.sum(case((overdue, 1), else_=0)).label("overdue"),
                   func.sum(case((late, 1), else_=0)).label("late"))
            .select_from(Dossier).outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id)
            .where(lateness_counts(original_due), Dossier.received_at < received_before))
    return stmt.group_by(*keys) if grouped else stmt


async def open_figures(session: AsyncSession, query: ReportQuery, now: datetime) -> OpenAt:
    """The dossiers open at the end of the period: for a period that is over, as counted when its last day was
    captured (`capture_open_counts`, or rebuilt by app.reporting.rebuild), else as they were at its end, rebuilt
    from their history now (app.reporting.asof.open_counts_at: only that day, bounded by the dossiers open then);
    for the current period, those open now, received before its end."""
    period_end = local_midnight(query.end + timedelta(days=1))
    if period_end <= now:
        capture = await session.get(OpenCountCapture, query.end)
        if capture is not None:
            return OpenAt(await _captured_figures(session, query), capture.captured_at)
        # Counted as they are now, the dossiers open then and finished since were lost and those changed since
        # judged as they are: a month a year old had almost nothing open. Not stored: reports only read.
        counts = await _rebuilt_open_counts(session, query, period_end, now)
        return OpenAt(_keyed_open_figures(query, _rebuilt_rows(query, counts)), period_end.astimezone(UTC))
    if query.group_by == "agency":
        group: Any = Dossier.agency_code
    elif query.group_by == "procedure":
        group = Dossier.procedure_code
    elif query.group_by == "month":
        group = _month_of_moment(session, Dossier.received_at)
    else:
        group = literal("")
    key = group.label("k")
    stmt = _open_counts([key], grouped=bool(query.group_by), overdue_at=now, received_before=period_end)
    if query.agencies is not None:
        stmt = stmt.where(Dossier.agency_code.in_(sorted(query.agencies)))
    if query.procedure is not None:
        stmt = stmt.where(Dossier.procedure_code == query.procedure)
    return OpenAt(_keyed_open_figures(query, (await session.execute(stmt)).all()), now)


# Entries dated before a moment and committed after it: a transaction open across it.
SETTLED = timedelta(hours=1)
# A settled day's end rebuilt from history (every dossier open then replayed: hundreds of ms on a large province)
# stays the same, as the history before it does: each worker keeps it DVC_CLOSED_REPORT_CACHE_S.
rebuilt_days = TTLCache()


async def _rebuilt_open_counts(session: AsyncSession, query: ReportQuery, period_end: datetime,
                               now: datetime) -> dict[OpenKey, tuple[int, int, int]]:
    settings = get_settings()
    key = (period_end, query.agencies, query.procedure, settings.indicator_multi_supplement_late)
    counts: dict[OpenKey, tuple[int, int, int]] | None = rebuilt_days.get(key)
    if counts is None:
        counts = await open_counts_at(session, period_end, agencies=query.agencies, procedure=query.procedure)
        if period_end <= now - SETTLED:
            rebuilt_days.put(key, counts, settings.closed_report_cache_s)
    return counts


@dataclass(frozen=True)
class _Row:
    k: str
    total: int
    overdue: int
    late: int


def _rebuilt_rows(query: ReportQuery, counts: dict[OpenKey, tuple[int, int, int]]) -> list[_Row]:
    """The rebuilt counts in the rows `_keyed_open_figures` reads (keyed as `_captured_figures` keys them)."""
    position = {"agency": 0, "procedure": 1, "month": 2}.get(query.group_by or "")
    return [_Row("" if position is None else key[position], *figures) for key, figures in sorted(counts.items())]


async def _captured_figures(session: AsyncSession, query: ReportQuery) -> dict[str, OpenFigures]:
    group: Any = {"agency": OpenCount.agency_code, "procedure": OpenCount.procedure_code,
                  "month": OpenCount.received_month}.get(query.group_by or "", literal(""))
    key = group.label("k")
    stmt = (select(key, func.sum(OpenCount.total).label("total"), func.sum(OpenCount.overdue).label("overdue"),
                   func.sum(OpenCount.late).label("late"))
            .where(OpenCount.day == query.end))
    if query.group_by:
        stmt = stmt.group_by(key)
    if query.agencies is not None:
        stmt = stmt.where(OpenCount.agency_code.in_(sorted(query.agencies)))
    if query.procedure is not None:
        stmt = stmt.where(OpenCount.procedure_code == query.procedure)
    return _keyed_open_figures(query, (await session.execute(stmt)).all())


def _keyed_open_figures(query: ReportQuery, rows: Sequence[Any]) -> dict[str, OpenFigures]:
    out: dict[str, OpenFigures] = {}
    first_month = query.start.strftime("%Y-%m")
    for row in rows:
        if not row.total:
            continue
        name = str(row.k)
        if query.group_by == "month" and name < first_month:
            name = first_month  # carried over from before the period: counted in its first month
        prev = out.get(name, OpenFigures())
        out[name] = OpenFigures(prev.total + int(row.total), prev.overdue + int(row.overdue or 0),
                                prev.late + int(row.late or 0))
    return out


async def claim_day(session: AsyncSession, day: date, captured_at: datetime) -> bool:
    """Insert the day's capture row (before counting it); False when it exists, or another worker inserted it
    first (this transaction is then rolled back): every day is counted once, by one worker."""
    if await session.get(OpenCountCapture, day) is not None:
        return False
    session.add(OpenCountCapture(day=day, captured_at=captured_at))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def capture_open_counts(session: AsyncSession, day: date, now: datetime) -> bool:
    """Count the dossiers open at the end of local `day`, per agency, procedure and month received; False when
    that day is already counted. Counted as they are at `now`: `dvc worker` runs it minutes after midnight, and a
    dossier that changed state in between counts as it is now (`captured_at` says when)."""
    if not await claim_day(session, day, now):
        return False
    boundary = local_midnight(day + timedelta(days=1))
    month = _month_of_moment(session, Dossier.received_at).label("month")
    stmt = _open_counts([Dossier.agency_code, Dossier.procedure_code, month], grouped=True, overdue_at=boundary,
                        received_before=boundary)
    rows = (await session.execute(stmt)).all()
    if rows:
        await session.execute(insert(OpenCount), [
            {"day": day, "agency_code": row.agency_code, "procedure_code": row.procedure_code,
             "received_month": row.month, "total": row.total, "overdue": row.overdue or 0, "late": row.late or 0}
            for row in rows])
    return True


@dataclass(frozen=True)
class CatalogueFigures:
    published: dict[str, int]
    online: dict[str, int]
    online_codes: frozenset[str]


async def catalogue_figures(session: AsyncSession, query: ReportQuery) -> CatalogueFigures:
    """Procedures in force now (one version each, at most a few thousand) counted per agency or procedure: the
    version that applies (app.catalogue.service.live_clause), not the row stored `published`, which during a
    scheduled publication is the one that does not apply yet."""
    stmt = select(ProcedureVersion.agency_code, ProcedureVersion.procedure_code, ProcedureVersion.online_level) \
        .where(live_clause())
    if query.agencies is not None:
        stmt = stmt.where(ProcedureVersion.agency_code.in_(sorted(query.agencies)))
    if query.procedure is not None:
        stmt = stmt.where(ProcedureVersion.procedure_code == query.procedure)
    published: dict[str, int] = defaultdict(int)
    online: dict[str, int] = defaultdict(int)
    codes = set()
    for agency, procedure, level in (await session.execute(stmt)).all():
        level = getattr(level, "value", level)
        name = agency if query.group_by == "agency" else procedure if query.group_by == "procedure" else ""
        published[name] += 1
        if level in ONLINE_LEVELS:
            online[name] += 1
            codes.add(procedure)
    return CatalogueFigures(dict(published), dict(online), frozenset(codes))

"""`python -m bench.indicators`: Decision 766 indicators for a province-year over 1,000,000 dossiers.

Creates a throwaway PostgreSQL database (as `python -m bench` does), migrates it, fills it in SQL
(generate_series, no Python loop over rows): 50 agencies, 500 procedures, N dossiers over 2025 (80% online,
about 3% still open at the end of the year, some late, some paid online, some rated), and the counters
computed FROM those dossiers with the same rules as app/reporting/counters.py, then checks a few counter
sums against the dossiers table and times the indicators service (median of runs) for the province-year:
total, grouped by agency, by month, and one agency. Target: <= 1 s. The database is always dropped.

    python -m bench.indicators [--dossiers 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime

import asyncpg

from bench.database import BenchDatabase, find_user

TARGET_S = 1.0
AGENCIES, PROCEDURES = 50, 500

CATALOGUE_SQL = f"""
INSERT INTO agencies (id, code, name, level, saturday_morning, created_at, updated_at)
SELECT gen_random_uuid(), 'BENCH.' || lpad(a::text, 3, '0'), 'Sở số ' || a, 'department', false, now(), now()
FROM generate_series(0, {AGENCIES - 1}) a;
INSERT INTO catalogue_fields (id, code, name, created_at, updated_at)
VALUES (gen_random_uuid(), 'BENCH-F', 'Đo lường', now(), now());
INSERT INTO procedures (id, code, created_at, updated_at)
SELECT gen_random_uuid(), '1.' || lpad(p::text, 6, '0'), now(), now() FROM generate_series(0, {PROCEDURES - 1}) p;
INSERT INTO procedure_versions (id, procedure_code, version, status, name, agency_code, field_code, online_level,
    applicant_kinds, channels, processing_days, clock_on_supplement, document_parts, fee_items, result, workflow,
    step_time_limits, sample, search_name, search_extra, facets, created_at, updated_at)
SELECT gen_random_uuid(), '1.' || lpad(p::text, 6, '0'), 1, 'published', 'Thủ tục ' || p,
    'BENCH.' || lpad((p % {AGENCIES})::text, 3, '0'), 'BENCH-F',
    CASE WHEN p % 10 < 6 THEN 'full' WHEN p % 10 < 9 THEN 'partial' ELSE 'direct' END,
    '["citizen"]', '["online", "desk"]', 10, 'pause', '[]', '[]', '{{}}', 'standard', '[]', false,
    ' ', ' ', ' ', now(), now()
FROM generate_series(0, {PROCEDURES - 1}) p;
"""

# One dossier per i: procedure i % 500 (its agency p % 50), submitted through 2025; 97% finished (returned),
# the last 3% of the year still open (received or processing). Lateness, channel, fees, ratings vary by i.
DOSSIERS_SQL = """
INSERT INTO dossiers (id, code, procedure_code, procedure_version, procedure_name, agency_code, agency_name,
    applicant_kind, channel, source, delivery_method, form, state, national_status_code, created_at, updated_at,
    submitted_at, received_at, due_at, finished_at, version)
SELECT gen_random_uuid(), 'B-' || i, '1.' || lpad((i % 500)::text, 6, '0'), 1, 'Thủ tục', a, 'Sở',
    'citizen', ch, ch, ch, '{}',
    CASE WHEN open THEN (CASE WHEN i % 2 = 0 THEN 'received' ELSE 'processing' END) ELSE 'returned' END,
    CASE WHEN open THEN 2 ELSE 10 END, sub, sub, sub, sub + interval '1 hour', sub + interval '14 days',
    CASE WHEN open THEN NULL ELSE sub + interval '1 hour' + (i % 17) * interval '1 day' END, 1
FROM (
    SELECT i, 'BENCH.' || lpad(((i % 500) % 50)::text, 3, '0') AS a,
        CASE WHEN i % 5 = 0 THEN 'desk' ELSE 'online' END AS ch,
        timestamptz '2025-01-01 01:00+07' + (i::double precision / $1) * interval '364 days' AS sub,
        i::double precision / $1 > 0.97 AS open
    FROM generate_series(1, $1::int) i
) g;
"""

# The counters from the dossiers, by the rules of app/reporting/counters.py (submission-day figures, then
# finish-day figures added on conflict); fee-bearing every 4th dossier, paid online when also online,
# synced every dossier but every 10th, ratings on every 7th finished one.
COUNTERS_SQL = """
INSERT INTO reporting_counters (agency_code, procedure_code, day, submitted, submitted_online, submitted_desk,
    digitised, received, fee_bearing, paid_online, synced)
SELECT agency_code, procedure_code, (submitted_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, count(*),
    count(*) FILTER (WHERE channel = 'online'), count(*) FILTER (WHERE channel = 'desk'), count(*), count(*),
    count(*) FILTER (WHERE right(code, 1) IN ('0', '4', '8')),
    count(*) FILTER (WHERE right(code, 1) IN ('0', '4', '8') AND channel = 'online'),
    count(*) FILTER (WHERE right(code, 1) <> '0')
FROM dossiers WHERE code LIKE 'B-%' GROUP BY 1, 2, 3;
INSERT INTO reporting_counters AS c (agency_code, procedure_code, day, finished, finished_late,
    processing_working_days, processing_counted, results_issued, electronic_results, rating_count, rating_sum,
    rating_satisfied)
SELECT agency_code, procedure_code, (finished_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, count(*),
    count(*) FILTER (WHERE finished_at > due_at),
    sum(extract(epoch FROM finished_at - received_at) / 86400 * 5 / 7)::bigint, count(*), count(*),
    count(*) FILTER (WHERE channel = 'online'),
    count(*) FILTER (WHERE right(code, 1) = '7'), coalesce(sum(3 + length(code) % 3) FILTER (
        WHERE right(code, 1) = '7'), 0),
    count(*) FILTER (WHERE right(code, 1) = '7' AND 3 + length(code) % 3 >= 4)
FROM dossiers WHERE code LIKE 'B-%' AND finished_at IS NOT NULL GROUP BY 1, 2, 3
ON CONFLICT (agency_code, procedure_code, day) DO UPDATE SET finished = c.finished + excluded.finished,
    finished_late = c.finished_late + excluded.finished_late,
    processing_working_days = c.processing_working_days + excluded.processing_working_days,
    processing_counted = c.processing_counted + excluded.processing_counted,
    results_issued = c.results_issued + excluded.results_issued,
    electronic_results = c.electronic_results + excluded.electronic_results,
    rating_count = c.rating_count + excluded.rating_count, rating_sum = c.rating_sum + excluded.rating_sum,
    rating_satisfied = c.rating_satisfied + excluded.rating_satisfied;
"""


async def fill(dsn: str, dossiers: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await connection.execute(CATALOGUE_SQL)
        await connection.execute(DOSSIERS_SQL, dossiers)
        print(f"  {dossiers:,} dossiers in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        await connection.execute(COUNTERS_SQL)
        await connection.execute("ANALYZE")
        rows = await connection.fetchval("SELECT count(*) FROM reporting_counters")
        print(f"  {rows:,} counter rows in {time.perf_counter() - started:.1f} s", flush=True)
        check = await connection.fetchrow(
            "SELECT (SELECT sum(submitted) FROM reporting_counters) AS c_sub, "
            "(SELECT count(*) FROM dossiers) AS d_sub, "
            "(SELECT sum(finished_late) FROM reporting_counters) AS c_late, "
            "(SELECT count(*) FROM dossiers WHERE finished_at > due_at) AS d_late")
        assert check["c_sub"] == check["d_sub"] and check["c_late"] == check["d_late"], dict(check)
        print(f"  consistent: submitted {int(check['c_sub']):,}, finished late {int(check['c_late']):,}", flush=True)
    finally:
        await connection.close()


async def measure(runs: int) -> dict[str, float]:
    from app.core import clock
    from app.core.db import close_database, get_database
    from app.identity.deps import Principal
    from app.reporting import indicators
    from app.reporting.scope import agency_scope

    clock.now = lambda: datetime(2025, 12, 31, 10, tzinfo=UTC)  # the year's last day: 3% still open
    admin = Principal(account_id=uuid.uuid4(), kind="official", issuer="bench", subject="admin", name="Admin",
                      citizen_id=None, tax_code=None, agency_code=None, roles=frozenset({"system_admin"}),
                      scopes=frozenset(), agency_codes=frozenset(), acr=None)
    cases = {"province-year": (None, None), "by agency": (None, "agency"), "by month": (None, "month"),
             "by procedure": (None, "procedure"), "one agency": ("BENCH.007", None)}
    results: dict[str, float] = {}
    try:
        for name, (agency, group_by) in cases.items():
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                async with get_database().read_sessions() as session:
                    scope = await agency_scope(session, admin, agency)
                    report = await indicators.report(session, start=date(2025, 1, 1), end=date(2025, 12, 31),
                                                     agencies=scope, procedure=None, agency=agency,
                                                     group_by=group_by)
                    indicators.to_csv(report) if name == "province-year" else report.model_dump(mode="json")
                times.append(time.perf_counter() - started)
            results[name] = statistics.median(times)
            progress = next(g for g in report.total.groups if g.name == "progress").ratios[0]
            print(f"  {name:14s} median {results[name] * 1000:7.1f} ms  (rows {len(report.rows)}, "
                  f"on time {progress.numerator:,}/{progress.denominator:,})", flush=True)
    finally:
        await close_database()
    return results


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.indicators", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    database = BenchDatabase(await find_user(), f"dvc_bench_ind_{os.getpid()}")
    try:
        await database.create()
        database.migrate()
        os.environ.update(DVC_DATABASE_URL=database.sqlalchemy_url, DVC_ENV="test", DVC_LOG_LEVEL="WARNING")
        from app.core.settings import get_settings

        get_settings.cache_clear()
        print(f"database {database.name}: filling", flush=True)
        await fill(database.dsn, args.dossiers)
        print(f"indicators, 2025, median of {args.runs} runs:", flush=True)
        results = await measure(args.runs)
    finally:
        await database.drop()
    worst = max(results.values())
    verdict = "OK" if worst <= TARGET_S else "TOO SLOW"
    print(f"worst median {worst * 1000:.1f} ms (target {TARGET_S * 1000:.0f} ms): {verdict}")
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

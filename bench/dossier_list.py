"""Issue 6: an official's first page of the agency list (state filter, newest first) over 1,000,000 dossiers,
at 16 concurrent clients: p50 <= 20 ms, and within 1.5x of the same over 10,000.

    .venv/bin/python -m bench.dossier_list [--rows 1000000] [--small 10000] [--duration 10] [--workers 1] [--no-write]

Creates its own PostgreSQL database (dropped at the end), migrates it, seeds a published procedure and a
`processing` official of one agency, then generates dossiers with `INSERT ... SELECT generate_series` (no
per-row Python) over 10 agencies and 8 post-submission states, submitted over two years. It measures the
official's `GET /v1/dossiers?state=received&limit=20` with wrk (16 connections) once over `--small` dossiers,
then grows the table to `--rows`, ANALYZEs it and measures again, printing EXPLAIN ANALYZE of the page query
(the app's query shape) to show the (agency_code, state, submitted_at, id) index serving it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg

from bench.database import BenchDatabase, find_user
from bench.identity import BenchIdentity
from bench.load import Load, find_wrk
from bench.model import Measurement, Request
from bench.report import _commit, _machine, write
from bench.servers import Server

AGENCIES = 10
STATES = ["submitted", "received", "processing", "supplement_requested", "payment_requested", "processed",
          "returned", "refused"]
CONNECTIONS = 16

GENERATE = """
INSERT INTO dossiers (id, code, procedure_code, procedure_version, procedure_name, agency_code, agency_name,
    applicant_kind, applicant_name, channel, source, delivery_method, form, state, national_status_code,
    submitted_at, received_at, due_at, created_at, updated_at, version)
SELECT gen_random_uuid(), $1 || '-' || lpad(n::text, 8, '0'), $2, 1, 'Thủ tục (bench)',
    CASE WHEN n % $3 = 0 THEN $4 ELSE $4 || '.' || (n % $3)::text END, 'Cơ quan (bench)',
    'citizen', 'Nguyễn Văn An', 'online', 'online', 'online', '{}'::jsonb,
    ($5::text[])[1 + (n / $3) % array_length($5::text[], 1)], 2,
    ts, ts, ts + interval '15 days', ts, ts, 1
FROM (SELECT n, now() - (random() * interval '730 days') AS ts FROM generate_series($6::int, $7::int) AS n) AS g
"""

# The app's page query for an official (app/dossiers/listing.py + access.VISIBILITY_SHAPES), first page of 20 (+1).
PAGE_QUERY = """
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT dossiers.*, dossier_progress.original_due_at, dossier_progress.paused_working_days
FROM dossiers LEFT OUTER JOIN dossier_progress ON dossier_progress.dossier_id = dossiers.id
WHERE dossiers.agency_code = $1 AND (dossiers.state != 'draft' OR dossiers.actor_id = $2)
  AND dossiers.state = 'received' AND dossiers.state != 'draft'
ORDER BY dossiers.submitted_at DESC, dossiers.id DESC LIMIT 21
"""


async def seed_official(dsn: str, issuer: str, subject: str) -> tuple[str, str, uuid.UUID]:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.identity import staff
    from app.identity.schemas import OfficialIn
    from bench import seed

    agency, procedure = await seed.procedure(dsn, [{"key": "don", "name": "Đơn", "required": False}])
    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            official = await staff.create_official(session, None, OfficialIn.model_validate({
                "issuer": issuer, "subject": subject, "email": "mot.cua@bench.gov.vn", "name": "Một Cửa",
                "agency_code": agency, "roles": ["reception", "processing"]}))
            official_id = official.id
    finally:
        await engine.dispose()
    return agency, procedure, official_id


async def generate(dsn: str, agency: str, procedure: str, first: int, last: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO agencies (id, code, name, level, saturday_morning, created_at, updated_at)"
            " SELECT gen_random_uuid(), $1 || '.' || n, 'Cơ quan ' || n, 'department', false, now(), now()"
            " FROM generate_series(1, $2 - 1) AS n ON CONFLICT DO NOTHING", agency, AGENCIES)
        step = 250_000
        for start in range(first, last + 1, step):
            await connection.execute(GENERATE, f"B{uuid.uuid4().hex[:4].upper()}", procedure, AGENCIES, agency,
                                     STATES, start, min(last, start + step - 1))
        await connection.execute("ANALYZE dossiers")
    finally:
        await connection.close()


async def explain(dsn: str, agency: str, official: uuid.UUID) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(PAGE_QUERY, agency, official)
        return "\n".join(r[0] for r in rows)
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn workers for the app (the Dockerfile deploys DVC_WORKERS=2)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    wrk = find_wrk(install=True)
    load = Load(args.duration, CONNECTIONS, 2, wrk)
    started = datetime.now().astimezone()
    database = BenchDatabase(asyncio.run(find_user()), f"dvc_bench_list_{os.getpid()}")
    results: dict[int, Measurement] = {}
    plans: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="dvc-bench-list-") as tmp:
        work = Path(tmp)
        identity = BenchIdentity(work)
        app = Server("app", "app.main:create_app", work, factory=True, env={
            "DVC_ENV": "test", "DVC_DATABASE_URL": database.sqlalchemy_url, "DVC_LOG_LEVEL": "INFO",
            "DVC_STORAGE_DIR": str(work / "files"), "DVC_VAR_DIR": str(work / "var"), **identity.env()},
            workers=args.workers)
        try:
            asyncio.run(database.create())
            database.migrate()
            subject = f"official-{uuid.uuid4().hex}"
            agency, procedure, official = asyncio.run(seed_official(database.dsn, identity.issuer, subject))
            app.start()
            app.wait_ready("/readyz")
            token = identity.token(subject, email="mot.cua@bench.gov.vn")
            request = Request("GET", "/v1/dossiers?state=received&limit=20", identity.bearer(token))
            done = 0
            for size in (args.small, args.rows):
                print(f"dossier_list: generating dossiers {done + 1:,}..{size:,}", flush=True)
                asyncio.run(generate(database.dsn, agency, procedure, done + 1, size))
                done = size
                plans[size] = asyncio.run(explain(database.dsn, agency, official))
                load.run(app.url, request, 1.0)  # warm-up
                results[size] = load.run(app.url, request)
                m = results[size]
                print(f"  {size:>9,} dossiers: {m.rps:,.0f} req/s, p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms, "
                      f"{m.errors} errors", flush=True)
        finally:
            app.stop()
            asyncio.run(database.drop())
    small, large = results[args.small], results[args.rows]
    ratio = large.p50_ms / small.p50_ms if small.p50_ms else float("inf")
    lines = [f"## dossier_list {started:%Y-%m-%d %H:%M:%S %Z}", "",
             f"Commit {_commit()}; {_machine()}; `python -m bench.dossier_list`: an official's first page "
             f"(`GET /v1/dossiers?state=received&limit=20`), wrk {CONNECTIONS} connections, {args.duration:g} s; "
             f"dossiers over {AGENCIES} agencies and {len(STATES)} states; app: uvicorn {args.workers} worker(s), "
             "PostgreSQL.", "",
             "| dossiers | req/s | p50 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|"]
    for size, m in results.items():
        lines.append(f"| {size:,} | {m.rps:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} |")
    lines += ["", f"p50 over {args.rows:,}: {large.p50_ms:.2f} ms (target <= 20 ms); "
              f"p50 {args.rows:,} / p50 {args.small:,} = {ratio:.2f} (target <= 1.5).", "",
              f"EXPLAIN ANALYZE of the page query over {args.rows:,}:", "", "```", plans[args.rows], "```", ""]
    section = "\n".join(lines)
    print("\n" + section)
    if not args.no_write:
        print(f"dossier_list: written to {write(section, started)}")
    return 0 if large.p50_ms <= 20 and ratio <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())

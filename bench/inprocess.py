"""One scenario's requests, one at a time, through the app in this process: time and SQL per request.

    .venv/bin/python -m bench.inprocess --scenario NAME [--requests N] [--profile FILE.pstats]

Same throwaway PostgreSQL database and scenario set-up as `python -m bench`, but the app runs in this process
behind httpx's ASGI transport and the requests are sent sequentially, so each request's wall time is its own
CPU plus its database round trips, nothing queued behind other requests. Prints the mean and median time per
request and the SQL statements per request (counted on the engine), and with `--profile` writes cProfile
stats (sequential, so cumulative times of coroutines are meaningful) and prints the top entries. For A/B work
on the app's per-request cost; throughput under load is `python -m bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.database import BenchDatabase, find_user
from bench.identity import BenchIdentity
from bench.model import BenchContext
from bench.scenarios import all_scenarios


async def _raw_asgi_call(app: Any, request: Any, index: int) -> int:
    """Send prepared request `index` to `app` as a bare ASGI call; its status."""
    path, headers, body = request.at(index)
    for name in request.unique_headers:
        headers[name] = os.urandom(8).hex()
    raw_path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
             "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"bench.local"), (b"content-length", str(len(body or b"")).encode()),
                         *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body or b"", "more_body": False}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    if status >= 400:
        raise SystemExit(f"raw request {index}: {status}")
    return status


async def _time_raw_asgi(app: Any, request: Any, requests: int, concurrency: int, profile_suffix: str = "",
                         first: int = 0) -> None:
    """The same requests as bare ASGI calls (no HTTP client in the way), `concurrency` at a time, from entry
    `first` of the rotation: the app's own CPU per request, and its rate when this process is the bottleneck."""
    rounds: list[tuple[float, float]] = []
    per_round = max(requests // 5, 1)
    raw_profile = cProfile.Profile() if os.environ.get("BENCH_RAW_PROFILE") else None
    if raw_profile:
        raw_profile.enable()
    next_index = first
    for _ in range(5):
        last = next_index + per_round

        async def worker(last: int = last) -> None:
            nonlocal next_index
            while next_index < last:
                next_index += 1
                await _raw_asgi_call(app, request, next_index - 1)

        cpu_started, wall_started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rounds.append((time.process_time() - cpu_started, time.perf_counter() - wall_started))
    if raw_profile:
        raw_profile.disable()
        raw_profile.dump_stats(os.environ["BENCH_RAW_PROFILE"] + profile_suffix)
    cpu = sorted(1e6 * seconds / per_round for seconds, _ in rounds)
    rates = sorted(per_round / wall for _, wall in rounds)
    print(f"raw ASGI: {per_round * 5} requests, {concurrency} at a time; CPU per request in 5 rounds:"
          f" {', '.join(f'{us:.0f}' for us in cpu)} us (median {cpu[2]:.0f}); median {rates[2]:,.0f} req/s")


async def _time_raw_anchor(name: str, database: BenchDatabase, requests: int, concurrency: int) -> None:
    """The scenario's anchor, timed the same way in this process: the in-process ratio to compare with."""
    import importlib

    from bench.anchors import ANCHORS

    anchor = ANCHORS[name]
    await database.prepare_anchor(ANCHORS[anchor.tables_of] if anchor.tables_of else anchor)
    os.environ["BENCH_DSN"] = database.dsn
    module, _, attribute = anchor.module.partition(":")
    anchor_app = getattr(importlib.import_module(module), attribute)
    print(f"anchor {name}:", end=" ")
    async with anchor_app.router.lifespan_context(anchor_app):
        await _time_raw_asgi(anchor_app, anchor.request, requests, concurrency, profile_suffix=".anchor")


async def drive(scenario_name: str, requests: int, profile_path: str | None, database: BenchDatabase,
                identity: BenchIdentity, tree_path: str | None = None, raw_asgi: int = 0) -> None:
    from sqlalchemy import event

    from app.core.db import close_database, get_database
    from app.core.settings import get_settings
    from app.main import create_app

    get_settings.cache_clear()
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    base = "http://bench.local"
    async with httpx.AsyncClient(transport=transport, base_url=base, timeout=30) as http:
        context = BenchContext(app_url=base, http=http, identity=identity, database_dsn=database.dsn)
        request = await all_scenarios()[scenario_name].prepare(context)
        statements = 0

        show_sql = bool(os.environ.get("BENCH_SHOW_SQL"))

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            nonlocal statements
            statements += 1
            if show_sql and statements <= 20:
                print("SQL:", " ".join(statement.split())[:160])

        engine = get_database().write_engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        read_engine = get_database().read_engine.sync_engine
        if read_engine.pool is not engine.pool:  # PostgreSQL's read engine is a copy sharing events and pool
            event.listen(read_engine, "before_cursor_execute", count)
        import gc

        gc_time = [0.0, 0]
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_time[0] += time.perf_counter() - gc_started[0]
                gc_time[1] += info.get("generation", 0) == 2

        gc.callbacks.append(on_gc)
        timings = []
        cpu_started = time.process_time()
        profiler = cProfile.Profile() if profile_path else None
        sampler = None
        if tree_path:
            from pyinstrument import Profiler

            sampler = Profiler(interval=0.0002, async_mode="enabled")
        for index in range(requests + 20):
            path, headers, body = request.at(index)
            for name in request.unique_headers:
                headers[name] = os.urandom(8).hex()
            if index == 20:  # warm-up done: caches filled, pools open
                statements = 0
                gc_time[:] = [0.0, 0]
                cpu_started = time.process_time()
                if profiler:
                    profiler.enable()
                if sampler:
                    sampler.start()
            started = time.perf_counter()
            response = await http.request(request.method, path, headers=headers, content=body)
            if index >= 20:
                timings.append(time.perf_counter() - started)
            if response.status_code >= 400:
                raise SystemExit(f"request {index}: {response.status_code} {response.text[:500]}")
        cpu = time.process_time() - cpu_started
        if raw_asgi:
            # A single-use rotation (drafts to submit) goes on after the entries the sequential pass used (warm-up too).
            await _time_raw_asgi(app, request, requests, raw_asgi, first=requests + 20 if request.single_use else 0)
            await _time_raw_anchor(all_scenarios()[scenario_name].anchor, database, requests, raw_asgi)
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile_path))
        if sampler and tree_path:
            sampler.stop()
            show_all = bool(os.environ.get("BENCH_SHOW_ALL"))
            Path(tree_path).write_text(sampler.output_text(unicode=False, color=False, show_all=show_all))
        print(f"{scenario_name}: {requests} sequential requests, mean {1000 * statistics.mean(timings):.2f} ms,"
              f" median {1000 * statistics.median(timings):.2f} ms, CPU {1000 * cpu / requests:.2f} ms"
              f" (this process, the client included), {statements / requests:.1f} SQL statements"
              f" per request; garbage collection {1000 * gc_time[0] / requests:.2f} ms per request"
              f" ({gc_time[1]} full collections)")
        print(f"objects tracked by the garbage collector at the end: {len(gc.get_objects()):,}")
        await close_database()
        if profile_path:
            stats = pstats.Stats(profile_path)
            stats.sort_stats("cumulative").print_stats(r"app/|sqlalchemy/(orm|engine)/(session|base|flush)", 45)
            stats.sort_stats("tottime").print_stats(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, choices=sorted(all_scenarios()))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", help="write cProfile stats here and print the top entries")
    parser.add_argument("--raw-asgi", type=int, default=0, metavar="CONCURRENCY",
                        help="then time the same requests as bare ASGI calls (no HTTP client), this many at a time")
    parser.add_argument("--pyinstrument", help="write a pyinstrument call tree (text) here (await time included)")
    args = parser.parse_args()
    database = BenchDatabase(asyncio.run(find_user()), f"dvc_bench_{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="dvc-inprocess-") as tmp:
        work = Path(tmp)
        identity = BenchIdentity(work)
        os.environ.update({
            "DVC_ENV": "test", "DVC_DATABASE_URL": database.sqlalchemy_url,
            "DVC_LOG_LEVEL": os.environ.get("DVC_LOG_LEVEL", "INFO"),
            "DVC_STORAGE_DIR": str(work / "files"), "DVC_VAR_DIR": str(work / "var"), **identity.env(),
            "DVC_PUBLIC_RATE_LIMIT_PER_MIN": os.environ.get("DVC_PUBLIC_RATE_LIMIT_PER_MIN", "0")})
        try:
            asyncio.run(database.create())
            database.migrate()
            import uvloop  # uvicorn's loop (the servers under `python -m bench` run on it)

            uvloop.run(drive(args.scenario, args.requests, args.profile, database, identity, args.pyinstrument,
                              args.raw_asgi))
        finally:
            asyncio.run(database.drop())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Profile the app under one scenario's load with py-spy (a dev dependency).

    .venv/bin/python -m bench.profile --scenario NAME [--duration S] [--connections N] [--out FILE]
                                      [--extra-env K=V ...]

Same set-up as `python -m bench` (throwaway PostgreSQL database, migrations, the app under uvicorn with
DVC_LOG_LEVEL=INFO, the scenario's setup), then drives the scenario with wrk for the duration while
`py-spy record` samples the app process (wall-clock stacks of the event loop thread, idle excluded). Writes a
flame graph (FILE.svg) and the raw collapsed stacks (FILE.txt), and prints the top frames by inclusive and
self time among the samples inside a request. Nothing is written to bench/results: a profiled run is slower.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.cli import prepare, probe
from bench.database import BenchDatabase, find_user
from bench.identity import BenchIdentity
from bench.load import Load, find_wrk
from bench.scenarios import all_scenarios
from bench.servers import Server

REQUEST_FRAME = "request_response"  # fastapi/starlette frame present in every request's stack


def summarise(raw: Path, top: int = 30) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(REQUEST_FRAME in frame for frame in frames):
            continue
        total += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        own[frames[-1]] += int(count)
    if not total:
        return "no request samples"
    lines = [f"{total} samples inside requests", "-- inclusive"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top) if "app/" in f or "sqlalchemy" in f
              or "asyncpg" in f or "pydantic" in f or "logging" in f or "jose" in f or "jwt" in f]
    lines += ["-- self"] + [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def print_measurement(name: str, measurement: Any, tool: str) -> None:
    if measurement:
        print(f"{name} under {tool}: {measurement.rps:,.0f} req/s, p50 {measurement.p50_ms:.1f} ms,"
              f" {measurement.errors} errors, {measurement.requests:,} requests")


def print_pstats(path: Path, top: int = 60) -> None:
    """Top functions by cumulative and by own time, with call counts (divide by the request count)."""
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top // 2)


def main() -> int:
    scenarios = all_scenarios()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, choices=sorted(scenarios))
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", default="profile", help="output stem (default ./profile -> .svg, .txt)")
    parser.add_argument("--tool", choices=("py-spy", "cprofile"), default="py-spy",
                        help="py-spy samples (low overhead); cprofile counts calls (bench/cprofile_server.py)")
    parser.add_argument("--extra-env", action="append", default=[], metavar="K=V", help="more app environment")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    wrk = find_wrk(install=True)
    if not Path(spy).exists() or not wrk:
        raise SystemExit("bench.profile needs py-spy (pip install -e .[dev]) and wrk")
    scenario = scenarios[args.scenario]
    database = BenchDatabase(asyncio.run(find_user()), f"dvc_bench_{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="dvc-profile-") as tmp:
        work = Path(tmp)
        identity = BenchIdentity(work)
        extra = dict(item.split("=", 1) for item in args.extra_env)
        out = Path(args.out).resolve()
        stats = out.with_suffix(".pstats")
        app = Server("app", "app.main:create_app", work, factory=True, env={
            "DVC_ENV": "test", "DVC_DATABASE_URL": database.sqlalchemy_url, "DVC_LOG_LEVEL": "INFO",
            "DVC_STORAGE_DIR": str(work / "files"), "DVC_VAR_DIR": str(work / "var"), **identity.env(),
            "DVC_PUBLIC_RATE_LIMIT_PER_MIN": "0", **extra},
            command=[sys.executable, "-m", "bench.cprofile_server", str(stats)] if args.tool == "cprofile" else None)
        try:
            asyncio.run(database.create())
            database.migrate()
            app.start()
            app.wait_ready("/readyz")
            request = asyncio.run(prepare([scenario], app, identity, database))[scenario.name]
            probe(app.url, request, scenario.name)
            load = Load(args.duration, args.connections, 2, wrk)
            results: dict[str, Any] = {}
            runner = threading.Thread(target=lambda: results.setdefault("m", load.run(app.url, request, offset=1)))
            runner.start()
            assert app.process is not None
            if args.tool == "cprofile":
                runner.join(args.duration + 60)
                app.stop()
                print_measurement(scenario.name, results.get("m"), args.tool)
                print_pstats(stats)
                print(f"bench.profile: wrote {stats}")
                return 0
            for fmt, suffix in (("raw", ".txt"), ("flamegraph", ".svg")):
                # Two recordings of half the duration each: raw stacks for the summary, and the picture.
                subprocess.run([spy, "record", "--pid", str(app.process.pid), "-d", str(max(1, args.duration // 2 - 1)),
                                "-r", "250", "--nonblocking", "-f", fmt, "-o", str(out.with_suffix(suffix))],
                               check=False, capture_output=True, timeout=args.duration + 30)
            runner.join(args.duration + 60)
            print_measurement(scenario.name, results.get("m"), args.tool)
            print(summarise(out.with_suffix(".txt")))
            print(f"bench.profile: wrote {out.with_suffix('.svg')} and {out.with_suffix('.txt')}")
        finally:
            app.stop()
            asyncio.run(database.drop())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

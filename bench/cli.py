"""`python -m bench`: one PostgreSQL database, the app and the anchors up, each driven by the same load."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import FrameType

import httpx

from bench.anchors import ANCHORS, Anchor
from bench.database import BenchDatabase, find_user
from bench.identity import BenchIdentity
from bench.load import Load, find_wrk
from bench.model import BenchContext, Measurement, Request, Scenario
from bench.report import Row, render, write
from bench.scenarios import all_scenarios
from bench.servers import Server, process_cpu_seconds

WARM_UP_S = 1.0
PROBE_TIMEOUT_S = 10


def parse(argv: list[str] | None, scenarios: dict[str, Scenario]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scenario", action="append", choices=sorted(scenarios), metavar="NAME",
                        help=f"run only these (repeatable); default all: {', '.join(sorted(scenarios))}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per target (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="split each target's duration into rounds, interleaved across targets, so a "
                             "background load change hits scenario and anchor alike (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--app-log-level", default="INFO", help="DVC_LOG_LEVEL of the app (default INFO, as prod)")
    parser.add_argument("--anchor", action="append", choices=sorted(ANCHORS), metavar="NAME", default=[],
                        help="also run this anchor (e.g. the ORM references orm_insert, orm_pk_read); repeatable")
    parser.add_argument("--public-rate-limit", type=int, default=0, metavar="N",
                        help="DVC_PUBLIC_RATE_LIMIT_PER_MIN of the app (default 0: off; public_dossier sends each "
                             "code from its own forwarded address, so a limit measures its cost, not 429 answers)")
    parser.add_argument("--no-write", action="store_true", help="print the table only, no results file")
    args = parser.parse_args(argv)
    if not (1 <= args.duration <= 120 and 1 <= args.connections <= 1024 and 1 <= args.threads <= 64
            and 1 <= args.rounds <= 10 and args.duration / args.rounds >= 1):
        parser.error("bounds: 1 <= duration <= 120, 1 <= connections <= 1024, 1 <= threads <= 64, "
                     "1 <= rounds <= 10, duration / rounds >= 1")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    print(f"bench: signal {signum}, cleaning up", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: servers stopped, database dropped


def probe(url: str, request: Request, what: str, index: int = 0) -> None:
    """One request before the load: a scenario that answers an error would only measure the error path."""
    path, headers, body = request.at(index)
    headers |= {name: f"bench-probe-{name}" for name in request.unique_headers}
    response = httpx.request(request.method, url + path, headers=headers, content=body, timeout=PROBE_TIMEOUT_S)
    if response.status_code >= 400:
        raise RuntimeError(f"{what}: {request.method} {path} answered {response.status_code}: "
                           f"{response.text[:500]}")


@dataclass(frozen=True)
class Target:
    label: str
    url: str
    request: Request
    pid: int | None = None  # the serving process, whose CPU per request is measured

    def cpu(self) -> float:
        return process_cpu_seconds(self.pid) if self.pid else 0.0


def _cpu_text(result: Measurement) -> str:
    cpu = result.cpu_us_per_request
    return "" if cpu is None else f", server CPU {cpu:,.0f} us/req"


def measure(load: Load, targets: list[Target], rounds: int) -> dict[str, Measurement]:
    """Probe and warm every target, then `rounds` interleaved slices of the duration each.

    A rotation continues where the previous slice stopped (offsets per target), so single-use entries are
    not sent twice unless the run outlasts the list; that is reported."""
    offsets = {target.label: 1 for target in targets}  # entry 0 went to the probe
    for target in targets:
        probe(target.url, target.request, target.label)
        offsets[target.label] += load.run(target.url, target.request, WARM_UP_S, offset=1).issued
    slices: dict[str, list[Measurement]] = {target.label: [] for target in targets}
    for round_number in range(1, rounds + 1):
        for target in targets:
            cpu_before = target.cpu()
            result = load.run(target.url, target.request, load.duration_s / rounds, offset=offsets[target.label])
            result = replace(result, cpu_s=target.cpu() - cpu_before)
            offsets[target.label] += result.issued
            slices[target.label].append(result)
            print(f"  [{round_number}/{rounds}] {target.label}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms,"
                  f" p99 {result.p99_ms:.2f} ms" + _cpu_text(result)
                  + (f", {result.errors} ERRORS" if result.errors else ""), flush=True)
    for target in targets:
        size = len(target.request.rotation)
        if target.request.single_use and offsets[target.label] > size:
            print(f"  WARNING {target.label}: {offsets[target.label]:,} requests over {size:,} single-use "
                  f"entries: {offsets[target.label] - size:,} were repeats; prepare more", flush=True)
    return {label: Measurement.combine(results) for label, results in slices.items()}


async def prepare(scenarios: list[Scenario], app: Server, identity: BenchIdentity,
                  database: BenchDatabase) -> dict[str, Request]:
    async with httpx.AsyncClient(base_url=app.url, timeout=30) as http:
        context = BenchContext(app_url=app.url, http=http, identity=identity, database_dsn=database.dsn)
        return {scenario.name: await scenario.prepare(context) for scenario in scenarios}


def run(args: argparse.Namespace, scenarios: list[Scenario], anchors: list[Anchor], work: Path) -> tuple[str, datetime]:
    started = datetime.now().astimezone()
    wrk = None if args.python_load else find_wrk(install=not args.no_install)
    load = Load(args.duration, args.connections, args.threads, wrk)
    print(f"bench: {len(scenarios)} scenario(s), {len(anchors)} anchor(s), load {load.tool}", flush=True)

    database = BenchDatabase(asyncio.run(find_user()), f"dvc_bench_{os.getpid()}")
    servers: list[Server] = []
    try:
        asyncio.run(database.create())
        database.migrate()
        for anchor in anchors:
            asyncio.run(database.prepare_anchor(anchor))
        identity = BenchIdentity(work)
        app = Server("app", "app.main:create_app", work, factory=True, env={
            "DVC_ENV": "test", "DVC_DATABASE_URL": database.sqlalchemy_url, "DVC_LOG_LEVEL": args.app_log_level,
            "DVC_STORAGE_DIR": str(work / "files"), "DVC_VAR_DIR": str(work / "var"), **identity.env(),
            # Public tracking is rate-limited per client address (120/min) and all load comes from loopback:
            # off unless asked for, so public_dossier measures the read, not 429 answers.
            "DVC_PUBLIC_RATE_LIMIT_PER_MIN": str(args.public_rate_limit)})
        servers.append(app)
        anchor_servers = {a.name: Server(f"anchor-{a.name}", a.module, work, env={"BENCH_DSN": database.dsn})
                          for a in anchors}
        servers.extend(anchor_servers.values())
        for server in servers:
            server.start()
        app.wait_ready("/readyz")
        for server in anchor_servers.values():
            server.wait_ready("/", frozenset({404}))  # any answer: the lifespan (pool) is up

        requests = asyncio.run(prepare(scenarios, app, identity, database))
        targets = [Target(f"anchor {a.name}", anchor_servers[a.name].url, a.request, anchor_servers[a.name].pid)
                   for a in anchors]
        targets += [Target(s.name, app.url, requests[s.name], app.pid) for s in scenarios]
        results = measure(load, targets, args.rounds)
        anchor_rows = {a.name: Row(a.name, a.description, results[f"anchor {a.name}"]) for a in anchors}
        scenario_rows = [Row(s.name, s.description, results[s.name], s.anchor, anchor_rows[s.anchor].measurement)
                         for s in scenarios]
    except Exception:
        for server in servers:
            print(f"--- {server.name} log (tail)\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
        try:
            asyncio.run(database.drop())
        except Exception as error:  # never hide the run's own error behind a failed clean-up
            print(f"bench: could not drop database {database.name}: {error}", file=sys.stderr)
    return render(scenario_rows, list(anchor_rows.values()), tool=load.tool, connections=args.connections,
                  threads=args.threads, duration_s=args.duration, rounds=args.rounds,
                  started=started), started


def main(argv: list[str] | None = None) -> int:
    registry = all_scenarios()
    args = parse(argv, registry)
    scenarios = [registry[name] for name in (args.scenario or sorted(registry))]
    for scenario in scenarios:
        if scenario.anchor not in ANCHORS:
            raise SystemExit(f"bench: scenario {scenario.name} names unknown anchor {scenario.anchor!r}")
    # Every anchor on a full run (the table shows them all); only the ones needed for a selection.
    wanted = ({s.anchor for s in scenarios} if args.scenario else set(ANCHORS)) | set(args.anchor)
    wanted |= {ANCHORS[name].tables_of for name in wanted if ANCHORS[name].tables_of}
    anchors = [anchor for name, anchor in ANCHORS.items() if name in wanted]
    signal.signal(signal.SIGTERM, _terminate)
    with tempfile.TemporaryDirectory(prefix="dvc-bench-") as work:
        table, started = run(args, scenarios, anchors, Path(work))
    print("\n" + table)
    if not args.no_write:
        print(f"bench: written to {write(table, started)}")
    return 0

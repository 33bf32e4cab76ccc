"""National-portal sync throughput: outbox events delivered per second against the fake portal over HTTP.

    .venv/bin/python -m bench.sync_throughput [--dossiers N] [--processes P] [--workers W]

Creates its own PostgreSQL database (dropped at the end), seeds N submitted dossiers with two events each
(`dossier.submitted`, then `dossier.status_changed`: the second must wait for the first), starts the fake
portal (`dvc fake-portal`, a separate uvicorn process on a loopback port), then runs P worker processes of
W loops each (each looping `run_consumer` of the real `national_portal` consumer; claims use SKIP LOCKED)
until every delivery is delivered. The time counts from the workers' start (process start-up included).
Reports deliveries/s and checks that each dossier's statuses arrived in order.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.database import BenchDatabase, find_user
from bench.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
AGENCY = "000.00.12.H01"


async def _seed(dossiers: int) -> None:
    from app.catalogue.models import Agency, AgencyLevel
    from app.core import clock
    from app.core.db import get_database
    from app.core.outbox import OutboxEvent
    from app.core.registry import load_all_models
    from app.dossiers.models import Dossier

    load_all_models()
    now = clock.now()
    async with get_database().write_sessions() as session, session.begin():
        session.add(Agency(code=AGENCY, name="Sở Khoa học và Công nghệ", level=AgencyLevel.department))
        await session.flush()
        for start in range(0, dossiers, 1000):
            rows, events = [], []
            for i in range(start, min(start + 1000, dossiers)):
                dossier_id = uuid.uuid4()
                code = f"{AGENCY}-250101-{i:06d}"
                rows.append(Dossier(id=dossier_id, code=code, procedure_code="1.001", procedure_version=1,
                                    procedure_name="Thủ tục", agency_code=AGENCY, agency_name="Sở KH&CN",
                                    applicant_kind="citizen", channel="online", source="online",
                                    delivery_method="online", form={}, state="received", national_status_code=2,
                                    submitted_at=now, created_at=now))
                for j, (event_type, status) in enumerate((("dossier.submitted", 1), ("dossier.status_changed", 2))):
                    events.append(OutboxEvent(
                        event_type=event_type, aggregate_type="dossier", aggregate_id=dossier_id,
                        created_at=now - timedelta(minutes=5) + timedelta(microseconds=j),
                        payload={"dossier_id": str(dossier_id), "code": code, "procedure_code": "1.001",
                                 "agency_code": AGENCY, "national_status_code": status, "at": now.isoformat()}))
            session.add_all(rows)
            await session.flush()
            session.add_all(events)
            await session.flush()


async def _worker(consumer: Any, stop: asyncio.Event) -> int:
    from app.core.delivery import run_consumer

    delivered = 0
    while not stop.is_set():
        stats = await run_consumer(consumer)
        delivered += stats.delivered
        if not (stats.fanned_out or stats.delivered or stats.failed):
            await asyncio.sleep(0.01)
    return delivered


async def _pending() -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.core.db import get_database
    from app.core.delivery import DELIVERED, Delivery

    async with get_database().read_sessions() as session:
        total = await session.scalar(select(func.count()).select_from(Delivery))
        done = await session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == DELIVERED))
    return int(total or 0) - int(done or 0), int(done or 0)


async def _work_until_done(workers: int, portal_url: str, expected: int) -> None:
    """One worker process: `workers` loops of the real consumer until every delivery is delivered."""
    from app.core.db import close_database
    from app.integration.portal import NationalPortal, NationalPortalConsumer

    portal = NationalPortal(portal_url, client_id="bench", secret="bench", timeout_s=10)
    consumer = NationalPortalConsumer(portal, enabled=True)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_worker(consumer, stop)) for _ in range(workers)]
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        if (await _pending())[1] >= expected:
            break
    stop.set()
    await asyncio.gather(*tasks)
    await portal.aclose()
    await close_database()


def _child(workers: int, portal_url: str, expected: int) -> None:
    asyncio.run(_work_until_done(workers, portal_url, expected))


async def _check(portal_url: str, dossiers: int) -> dict[str, Any]:
    from app.core.db import close_database

    _, done = await _pending()
    async with httpx.AsyncClient(base_url=portal_url, timeout=60) as http:
        received = (await http.get("/_fake/received")).json()
    order: dict[str, list[str]] = {}
    for call in received:
        for record in call["body"].get("data", []):
            order.setdefault(record["MaHoSo"], []).append(record["TrangThaiHoSo"])
    in_order = all(codes == ["1", "2"] for codes in order.values()) and len(order) == dossiers
    await close_database()
    return {"delivered": done, "in_order": in_order, "portal_calls": len(received)}


def _measure(dossiers: int, processes: int, workers: int, portal_url: str) -> dict[str, Any]:
    """Several worker processes (as several `dvc worker`s would run) share the deliveries."""
    import multiprocessing

    async def seed() -> None:
        from app.core.db import close_database

        await _seed(dossiers)
        await close_database()

    asyncio.run(seed())
    expected = dossiers * 2
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_child, args=(workers, portal_url, expected)) for _ in range(processes)]
    started = time.perf_counter()
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=660)
    elapsed = time.perf_counter() - started
    result = asyncio.run(_check(portal_url, dossiers))
    return {**result, "expected": expected, "seconds": elapsed, "per_s": result["delivered"] / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=2000, help="dossiers (two events each)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (like several dvc worker)")
    parser.add_argument("--workers", type=int, default=1, help="concurrent loops in each worker process")
    args = parser.parse_args()

    async def create() -> BenchDatabase:
        database = BenchDatabase(await find_user(), f"dvc_bench_sync_{os.getpid()}")
        await database.create()
        return database

    database = asyncio.run(create())
    port = free_port()
    portal_process = None
    try:
        database.migrate()
        os.environ.update({"DVC_DATABASE_URL": database.sqlalchemy_url, "DVC_ENV": "test",
                           "DVC_LOG_LEVEL": "ERROR", "DVC_NATIONAL_PORTAL_CLIENT_ID": "bench",
                           "DVC_NATIONAL_PORTAL_SECRET": "bench"})
        dvc = Path(sys.executable).with_name("dvc")
        portal_process = subprocess.Popen([str(dvc), "fake-portal", "--port", str(port)], cwd=ROOT,
                                          env=os.environ.copy(), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        portal_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{portal_url}/_fake/received", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        result = _measure(args.dossiers, args.processes, args.workers, portal_url)
        print(f"sync throughput: {result['delivered']}/{result['expected']} deliveries in "
              f"{result['seconds']:.2f} s = {result['per_s']:.0f} deliveries/s "
              f"({args.processes} processes x {args.workers} loops, {args.dossiers} dossiers x 2 events; "
              f"per-dossier order kept: {result['in_order']}; portal calls {result['portal_calls']})")
    finally:
        if portal_process is not None:
            portal_process.terminate()
            portal_process.wait(timeout=10)
        asyncio.run(database.drop())


if __name__ == "__main__":
    main()

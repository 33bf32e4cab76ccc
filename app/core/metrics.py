"""Prometheus metrics: requests by route template and status, and the database pool.

Several worker processes (`DVC_WORKERS` > 1): prometheus_client's multiprocess mode. `make run` and the image
point `PROMETHEUS_MULTIPROC_DIR` (the library's own setting) at an emptied directory before the server starts;
every process then keeps its values in files there, and `/metrics`, whichever worker answers, reports requests
and latency summed over all workers (a restarted worker's counts stay counted). The pool gauges are per
process (a `pid` label), as of that worker's last scrape. Without the variable, one process, one registry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("dvc_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "dvc_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
POOL_CHECKED_OUT = Gauge("dvc_db_pool_checked_out", "Database connections in use", registry=REGISTRY,
                         multiprocess_mode="liveall")
POOL_SIZE = Gauge("dvc_db_pool_size", "Database pool size", registry=REGISTRY, multiprocess_mode="liveall")
DIRECT_IN_USE = Gauge("dvc_db_direct_pool_in_use", "Direct (asyncpg) pool connections in use", registry=REGISTRY,
                      multiprocess_mode="liveall")
DIRECT_OPEN = Gauge("dvc_db_direct_pool_open", "Direct (asyncpg) pool connections open", registry=REGISTRY,
                    multiprocess_mode="liveall")
DIRECT_WAITING = Gauge("dvc_db_direct_pool_waiting", "Requests waiting for a direct pool connection",
                       registry=REGISTRY, multiprocess_mode="liveall")


# Labelled children by label values: `labels()` takes a lock and builds a key on every call; the label sets
# are bounded (methods x route templates x statuses), so each child is looked up once.
_request_counters: dict[tuple[str, str, int], Any] = {}
_latencies: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    counter = _request_counters.get((method, route, status))
    if counter is None:
        counter = _request_counters[(method, route, status)] = REQUESTS.labels(method, route, str(status))
    counter.inc()
    latency = _latencies.get((method, route, status))
    if latency is None:
        latency = _latencies[(method, route, status)] = LATENCY.labels(method, route, str(status))
    latency.observe(seconds)


def render() -> tuple[bytes, str]:
    from app.core.db import pool_status

    status = pool_status()
    POOL_CHECKED_OUT.set(status.checked_out)
    POOL_SIZE.set(status.size)
    DIRECT_IN_USE.set(status.direct_in_use)
    DIRECT_OPEN.set(status.direct_open)
    DIRECT_WAITING.set(status.direct_waiting)
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, MULTIPROCESS_DIR)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def forget_dead_processes() -> None:
    """Drop the per-process gauges of workers that are gone (a worker restarted since the server started)."""
    if MULTIPROCESS_DIR is None:
        return
    for path in Path(MULTIPROCESS_DIR).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, MULTIPROCESS_DIR)
        except PermissionError:  # alive, another user's
            continue

"""/metrics with several uvicorn workers: every scrape reports the requests of all of them (a real server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.net import free_port

WORKERS = 2
REQUESTS = 60


def _healthz_count(text: str) -> int:
    match = re.search(r'^dvc_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', text, re.M)
    return int(float(match.group(1))) if match else 0


@pytest.fixture
def server(tmp_path: Path) -> tuple[str, Path]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "DVC_ENV": "test",
           "DVC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "DVC_VAR_DIR": str(tmp_path),
           "DVC_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(WORKERS), "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:  # up when it answers and every worker has loaded the app (each keeps its own files)
            try:
                up = httpx.get(f"{base}/metrics", timeout=2).status_code == 200
            except httpx.TransportError:
                up = False
            if up and len(list(metrics_dir.glob("gauge_liveall_*.db"))) >= WORKERS:
                break
            assert process.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.2)
        yield base, metrics_dir
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _healthz_per_worker(metrics_dir: Path) -> list[int]:
    """/healthz requests each worker counted, read from its own file."""
    counts = []
    for path in sorted(metrics_dir.glob("counter_*.db")):
        total = 0
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            total += sum(int(sample.value) for sample in metric.samples
                         if sample.name == "dvc_http_requests_total" and sample.labels.get("route") == "/healthz")
        counts.append(total)
    return counts


def test_every_scrape_counts_the_requests_of_every_worker(server: tuple[str, Path]) -> None:
    base, metrics_dir = server

    def hit(_: int) -> int:  # a new connection each time, several at once: the kernel hands them to both workers
        with httpx.Client(base_url=base, timeout=5) as http:
            return http.get("/healthz", headers={"Connection": "close"}).status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(10):  # on a busy machine one worker may accept a whole batch: send more until both have
            assert set(pool.map(hit, range(REQUESTS))) == {200}
            sent += REQUESTS
            if len(_healthz_per_worker(metrics_dir)) == WORKERS:
                break
    # A request is counted just after its answer is sent (the middleware's `finally`): the last one may still be
    # on its way to the file when the client has its answer.
    deadline = time.monotonic() + 5
    while sum(per_worker := _healthz_per_worker(metrics_dir)) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(per_worker) == WORKERS and all(per_worker) and sum(per_worker) == sent, per_worker
    pids: set[str] = set()
    for _ in range(10):  # whichever worker answers the scrape reports everyone's requests
        with httpx.Client(base_url=base, timeout=5) as http:
            text = http.get("/metrics", headers={"Connection": "close"}).text
        assert _healthz_count(text) == sent
        pids.update(re.findall(r'^dvc_db_pool_size\{pid="(\d+)"\}', text, re.M))
    assert len(pids) == WORKERS  # the pool gauges: one series per worker

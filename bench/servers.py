"""Uvicorn processes on loopback ports: started, awaited until ready, and always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from bench.database import ROOT

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30
APP_TARGET = "app.main:create_app"
# The app is served as `make run` and the image serve it: it reads forwarded headers itself (from trusted proxies
# only), so uvicorn's own proxy-header middleware is off; left on, every request paid for both.
APP_UVICORN_ARGS = ("--no-proxy-headers",)
STOP_TIMEOUT_S = 10


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its descendants still running (uvicorn's workers), from /proc;
    0.0 where /proc is missing."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, parents = 0.0, {pid}
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime+stime
    except OSError:
        return 0.0
    while parents:
        total += sum(stats[p][1] for p in parents if p in stats)
        parents = {child for child, (ppid, _) in stats.items() if ppid in parents}
    return total / ticks


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """One uvicorn process (1 worker unless told, no access log), its output in a log file under the run's temp
    dir."""

    def __init__(self, name: str, target: str, log_dir: Path, env: Mapping[str, str] | None = None,
                 factory: bool = False, command: list[str] | None = None, workers: int = 1) -> None:
        self.name = name
        self.target = target
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.factory = factory
        self.process: subprocess.Popen[bytes] | None = None
        self.command = command  # replaces the uvicorn command line; gets HOST and the port appended
        self.workers = workers

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", self.target, "--host", HOST, "--port", str(self.port),
                   "--workers", str(self.workers), "--no-access-log", "--log-level", "warning",
                   *(APP_UVICORN_ARGS if self.target == APP_TARGET else ())]
        if self.factory:
            command.append("--factory")
        if self.command:
            command = [*self.command, HOST, str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, path: str, ready_statuses: frozenset[int] = frozenset({200})) -> None:
        """Poll `path` until it answers one of `ready_statuses`, bounded by READY_TIMEOUT_S; fail early if
        the process died."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
                try:
                    response = client.get(path)
                    if response.status_code in ready_statuses:
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.TransportError as error:
                    last = repr(error)
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready on {path} after {READY_TIMEOUT_S}s ({last}):\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL after STOP_TIMEOUT_S; only this process, by its id."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

"""Load generators: wrk (Debian's package, installed when missing and root) or a bounded Python fallback.

Both drive one URL on loopback with N connections for a fixed duration and report req/s, p50, p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.model import Measurement, Request

WRK_RESULT = "BENCH_RESULT "
INSTALL_TIMEOUT_S = 300
PYTHON_MAX_REQUESTS = 2_000_000  # a hard cap besides the deadline: every loop is bounded in time and count

# The request is fixed (wrk.* globals); only with unique headers does wrk call request() for each one,
# giving those headers "<thread>-<counter>-<time>" values.
# done() prints one JSON line with the counts and the percentiles in microseconds.
WRK_SCRIPT = """
wrk.method, wrk.path, wrk.body = {method}, {path}, {body}
wrk.headers = {headers}
local unique = {unique}
counter, thread_id = 0, 0  -- globals: thread:set() writes the thread's globals
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

if #unique > 0 then
  function request()
    counter = counter + 1
    local h = {{}}
    for k, v in pairs(wrk.headers) do h[k] = v end
    for _, name in ipairs(unique) do h[name] = "bench-" .. thread_id .. "-" .. counter .. "-" .. os.time() end
    return wrk.format(nil, nil, h, nil)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{marker}{{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99))))
end
"""


def _lua_string(value: str | bytes | None) -> str:
    if value is None:
        return "nil"
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(chr(b) if chr(b).isalnum() or chr(b) in " /-_.:" else f"\\{b:03d}" for b in data) + '"'


def wrk_script(request: Request) -> str:
    headers = "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in request.headers.items()) + "}"
    unique = "{" + ", ".join(_lua_string(name) for name in request.unique_headers) + "}"
    return WRK_SCRIPT.format(method=_lua_string(request.method), path=_lua_string(request.path),
                             body=_lua_string(request.body), headers=headers, unique=unique, marker=WRK_RESULT)


def find_wrk(install: bool) -> str | None:
    """The wrk binary; installs Debian's package when missing and allowed (root), else None."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("bench: installing wrk (apt-get install -y wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(command, env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


@dataclass(frozen=True)
class Load:
    duration_s: float
    connections: int
    threads: int
    wrk: str | None  # path of wrk, or None for the Python generator

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "python (httpx)"

    def run(self, base_url: str, request: Request, duration_s: float | None = None) -> Measurement:
        duration = duration_s if duration_s is not None else self.duration_s
        if self.wrk:
            return self._run_wrk(base_url, request, duration)
        return asyncio.run(python_load(base_url, request, duration, self.connections))

    def _run_wrk(self, base_url: str, request: Request, duration: float) -> Measurement:
        assert self.wrk is not None
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(wrk_script(request))
        try:
            seconds = max(1, round(duration))
            command = [self.wrk, "-t", str(min(self.threads, self.connections)), "-c", str(self.connections),
                       "-d", f"{seconds}s", "--timeout", "5s", "-s", script.name, base_url + request.path]
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
        finally:
            Path(script.name).unlink(missing_ok=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(WRK_RESULT)]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        result = json.loads(lines[-1].removeprefix(WRK_RESULT))
        return Measurement(requests=result["requests"], seconds=result["duration_us"] / 1e6,
                           errors=result["errors"], p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def python_load(base_url: str, request: Request, duration_s: float, connections: int) -> Measurement:
    """N workers on N keep-alive connections until the deadline (or the request cap); latencies in ms."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + duration_s

    async def worker(worker_id: int) -> None:
        # One client (one keep-alive connection) per worker: a shared pool serialises on its lock and
        # measures httpx rather than the server.
        async with httpx.AsyncClient(base_url=base_url, timeout=5, limits=httpx.Limits(max_connections=1)) as client:
            await drive(client, worker_id)

    async def drive(client: httpx.AsyncClient, worker_id: int) -> None:
        nonlocal errors, sent
        counter = 0
        while time.perf_counter() < deadline and sent < PYTHON_MAX_REQUESTS:
            counter += 1
            sent += 1
            headers = dict(request.headers)
            for name in request.unique_headers:
                headers[name] = f"bench-{worker_id}-{counter}-{int(time.time())}"
            started = time.perf_counter()
            try:
                response = await client.request(request.method, request.path, headers=headers,
                                                content=request.body)
                if response.status_code >= 400:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(connections))), timeout=duration_s + 10)
    seconds = time.perf_counter() - started
    latencies.sort()
    return Measurement(requests=len(latencies), seconds=seconds, errors=errors,
                       p50_ms=_percentile(latencies, 0.50), p99_ms=_percentile(latencies, 0.99))

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.model import Measurement, Request

WRK_RESULT = "BENCH_RESULT "
INSTALL_TIMEOUT_S = 300
PYTHON_MAX_REQUESTS = 2_000_000  # a hard cap besides the deadline: every loop is bounded in time and count

# The request is fixed (wrk.* globals) unless it has unique headers or a rotation; then wrk calls request()
# for each one. Unique headers get "<thread>-<counter>-<time>" values. A rotation is walked from `offset`:
# thread t (1..stride) takes entries offset + t - 1, offset + t - 1 + stride, ... so no two threads send the
# same entry at once. done() prints one JSON line with the counts, the percentiles in microseconds, and how
# many requests were issued (highest per-thread counter x stride), so the next run continues the rotation.
WRK_SCRIPT = """
wrk.method, wrk.path, wrk.body = {method}, {path}, {body}
wrk.headers = {headers}
local unique = {unique}
local variants = {variants}
local offset, stride = {offset}, {stride}
counter, thread_id = 0, 0  -- globals: thread:set() writes the thread's globals
local next_id = 0
local threads = {{}}

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  table.insert(threads, thread)
end

if #unique > 0 or #variants > 0 then
  function request()
    counter = counter + 1
    local h = {{}}
    for k, v in pairs(wrk.headers) do h[k] = v end
    local path, body = wrk.path, wrk.body
    if #variants > 0 then
      local v = variants[(offset + (counter - 1) * stride + thread_id - 1) % #variants + 1]
      path = v[1]
      for k, x in pairs(v[2]) do h[k] = x end
      if v[3] then body = v[3] end
    end
    for _, name in ipairs(unique) do h[name] = "bench-" .. thread_id .. "-" .. counter .. "-" .. os.time() end
    return wrk.format(nil, path, h, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local issued = 0
  for _, t in ipairs(threads) do
    local c = t:get("counter") or 0
    if c > issued then issued = c end
  end
  io.write(string.format('{marker}{{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, '
    .. '"p99_us": %d, "issued": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)), issued * stride))
end
"""


def _lua_string(value: str | bytes | None) -> str:
    if value is None:
        return "nil"
    data = value.encode() if isinstance(value, str) else value
    # Printable ASCII stays as is (compact scripts for thousands of variants); the rest as decimal escapes.
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in data) + '"'


def _lua_table(headers: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}"


def wrk_script(request: Request, offset: int = 0, stride: int = 1) -> str:
    unique = "{" + ", ".join(_lua_string(name) for name in request.unique_headers) + "}"
    variants = "{" + ",\n".join(f"{{{_lua_string(v.path)}, {_lua_table(v.headers)}, {_lua_string(v.body)}}}"
                                for v in request.rotation) + "}"
    return WRK_SCRIPT.format(method=_lua_string(request.method), path=_lua_string(request.path),
                             body=_lua_string(request.body), headers=_lua_table(request.headers), unique=unique,
                             variants=variants, offset=offset, stride=stride, marker=WRK_RESULT)


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

    def run(self, base_url: str, request: Request, duration_s: float | None = None, offset: int = 0) -> Measurement:
        """Drive the request for the duration; a rotation starts at entry `offset` (see Request)."""
        duration = duration_s if duration_s is not None else self.duration_s
        if self.wrk:
            return self._run_wrk(base_url, request, duration, offset)
        return asyncio.run(python_load(base_url, request, duration, self.connections, offset))

    def _run_wrk(self, base_url: str, request: Request, duration: float, offset: int) -> Measurement:
        assert self.wrk is not None
        threads = min(self.threads, self.connections)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(wrk_script(request, offset, threads))
        try:
            seconds = max(1, round(duration))
            command = [self.wrk, "-t", str(threads), "-c", str(self.connections),
                       "-d", f"{seconds}s", "--timeout", "5s", "-s", script.name, base_url + request.path]
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
        finally:
            Path(script.name).unlink(missing_ok=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(WRK_RESULT)]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        result = json.loads(lines[-1].removeprefix(WRK_RESULT))
        return Measurement(requests=result["requests"], seconds=result["duration_us"] / 1e6,
                           errors=result["errors"], p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
                           issued=result["issued"])


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def python_load(base_url: str, request: Request, duration_s: float, connections: int,
                      offset: int = 0) -> Measurement:
    """N workers on N keep-alive connections until the deadline (or the request cap); latencies in ms.
    Request number k (over all workers) is the rotation's entry offset + k."""
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
            path, headers, body = request.at(offset + sent)  # single event loop: `sent` is not raced
            sent += 1
            for name in request.unique_headers:
                headers[name] = f"bench-{worker_id}-{counter}-{int(time.time())}"
            started = time.perf_counter()
            try:
                response = await client.request(request.method, path, headers=headers, content=body)
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
                       p50_ms=_percentile(latencies, 0.50), p99_ms=_percentile(latencies, 0.99), issued=sent)

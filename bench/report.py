"""The results table: printed, and appended as one section to bench/results/<YYYY-MM-DD>.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.database import ROOT
from bench.model import Measurement

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    name: str
    description: str
    measurement: Measurement
    anchor: str | None = None
    anchor_measurement: Measurement | None = None

    @property
    def ratio(self) -> float | None:
        if self.anchor_measurement is None or self.anchor_measurement.rps == 0:
            return None
        return self.measurement.rps / self.anchor_measurement.rps

    @property
    def cpu_ratio(self) -> float | None:
        """The anchor's server CPU per request over the scenario's: the req/s ratio the app would reach if only
        its own process's work counted (wrk, PostgreSQL and the machine's other load left out)."""
        if self.anchor_measurement is None:
            return None
        mine, anchor = self.measurement.cpu_us_per_request, self.anchor_measurement.cpu_us_per_request
        return anchor / mine if mine and anchor else None


def _cpu(m: Measurement | None) -> str:
    cpu = m.cpu_us_per_request if m else None
    return "-" if cpu is None else f"{cpu:,.0f}"


def _fmt(m: Measurement) -> list[str]:
    return [f"{m.rps:,.0f}", f"{m.p50_ms:.2f}", f"{m.p99_ms:.2f}", str(m.errors)]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}"


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=10)
    return done.stdout.strip() or "unknown"


def render(scenarios: list[Row], anchors: list[Row], *, tool: str, connections: int, threads: int,
           duration_s: float, rounds: int, started: datetime) -> str:
    lines = [f"## Run {started:%Y-%m-%d %H:%M:%S %Z}".rstrip(), "",
             f"Commit {_commit()}; {_machine()}; load: {tool}, {connections} connections"
             + (f", {threads} threads" if tool == "wrk" else "")
             + f", {duration_s:g} s per target in {rounds} interleaved round(s) after a 1 s warm-up; "
             "app: uvicorn 1 worker, DVC_ENV=test, PostgreSQL on loopback.", "",
             "| scenario | req/s | p50 ms | p99 ms | errors | anchor | anchor req/s | ratio to anchor "
             "| server CPU us/req | anchor's | CPU ratio |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for row in scenarios:
        rps, p50, p99, errors = _fmt(row.measurement)
        anchor_rps = f"{row.anchor_measurement.rps:,.0f}" if row.anchor_measurement else "-"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        cpu_ratio = f"{row.cpu_ratio:.2f}" if row.cpu_ratio is not None else "-"
        lines.append(f"| {row.name} | {rps} | {p50} | {p99} | {errors} | {row.anchor} | {anchor_rps} | {ratio} "
                     f"| {_cpu(row.measurement)} | {_cpu(row.anchor_measurement)} | {cpu_ratio} |")
    lines += ["", "| anchor | what | req/s | p50 ms | p99 ms | errors | server CPU us/req |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for row in anchors:
        rps, p50, p99, errors = _fmt(row.measurement)
        lines.append(f"| {row.name} | {row.description} | {rps} | {p50} | {p99} | {errors} "
                     f"| {_cpu(row.measurement)} |")
    return "\n".join(lines) + "\n"


def write(section: str, started: datetime) -> Path:
    """Append the run to the day's file (created with a title), written atomically via a .tmp file."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{started:%Y-%m-%d}.md"
    existing = path.read_text() if path.exists() else (
        f"# Benchmark results {started:%Y-%m-%d}\n\nRatio = scenario req/s / anchor req/s (1.00 = as fast as the "
        "bare anchor). Written by `make bench`; each run appends a section.\n")
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text(existing.rstrip("\n") + "\n\n" + section)
    temporary.replace(path)
    return path

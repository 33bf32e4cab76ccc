"""What the identity gate costs: the same account read with and without it, interleaved, in one process.

    .venv/bin/python -m bench.gate [--requests N] [--database-url URL]

Both routes live on the real app (middleware, problem handlers, sessions); the only difference is the gate
(token verification + the registration lookup). Requests go through httpx.ASGITransport, so the figure is
server-side cost without network noise. Target (issue 4): gated / ungated <= 1.3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from app.core.db import ReadSessionDep, close_database, get_database
from app.identity.models import Account
from app.identity.schemas import AccountOut
from app.main import create_app
from bench.identity import BenchIdentity


async def run(requests: int, rounds: int) -> float:
    identity: BenchIdentity = run.identity  # type: ignore[attr-defined]
    app = create_app()

    @app.get("/bench/accounts/{account_id}")
    async def bench_ungated_account(account_id: uuid.UUID, session: ReadSessionDep) -> AccountOut:
        return AccountOut.model_validate(await session.get(Account, account_id))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        async with get_database().write_engine.begin() as connection:
            await connection.execute(text("DELETE FROM identities WHERE subject = 'citizen-001099000777'"))
            await connection.execute(text("DELETE FROM accounts WHERE citizen_id = '001099000777'"))
        headers = identity.bearer(identity.citizen_token("001099000777"))
        created = await http.post("/v1/accounts", headers=headers, json={"email": "bench@example.vn"})
        assert created.status_code == 201, created.text
        account_id = created.json()["id"]
        gated = ("/v1/accounts/me", headers)
        ungated: tuple[str, dict[str, str]] = (f"/bench/accounts/{account_id}", {})
        timings: dict[str, list[float]] = {"gated": [], "ungated": []}
        for path, hdrs in (gated, ungated):  # warm-up
            for _ in range(200):
                answer = await http.get(path, headers=hdrs)
                assert answer.status_code == 200, (path, answer.text)
        for _ in range(rounds):
            for name, (path, hdrs) in (("ungated", ungated), ("gated", gated)):
                start = time.perf_counter()
                for _ in range(requests // rounds):
                    await http.get(path, headers=hdrs)
                timings[name].append((time.perf_counter() - start) / (requests // rounds))
    await close_database()
    gated_us = statistics.median(timings["gated"]) * 1e6
    ungated_us = statistics.median(timings["ungated"]) * 1e6
    ratio = gated_us / ungated_us
    run.figures = (gated_us, ungated_us)  # type: ignore[attr-defined]
    print(f"ungated read: {ungated_us:8.1f} us/request")
    print(f"gated read:   {gated_us:8.1f} us/request (token verify + registration lookup + same read)")
    print(f"ratio:        {ratio:8.2f}  (target <= 1.30)")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: a throwaway SQLite file")
    parser.add_argument("--no-write", action="store_true", help="print only; no section in bench/results")
    args = parser.parse_args()
    started = datetime.now().astimezone()
    workdir = Path(tempfile.mkdtemp(prefix="dvc-bench-gate-"))
    identity = BenchIdentity(workdir)
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    os.environ.update({"DVC_ENV": "test", "DVC_DATABASE_URL": url, "DVC_LOG_LEVEL": "WARNING",
                       "DVC_VAR_DIR": str(workdir), "DVC_STORAGE_DIR": str(workdir / "files"), **identity.env()})
    import subprocess

    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "heads"], check=True,
                   cwd=Path(__file__).resolve().parents[1], capture_output=True)
    run.identity = identity  # type: ignore[attr-defined]
    ratio = asyncio.run(run(args.requests, args.rounds))
    if not args.no_write:
        from bench.report import _commit, _machine, write

        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        gated, ungated = run.figures  # type: ignore[attr-defined]
        section = (f"## gate {started:%Y-%m-%d %H:%M:%S %Z} ({backend})\n\nCommit {_commit()}; {_machine()}; "
                   f"`python -m bench.gate{' --database-url ' + url.split('@')[-1] if args.database_url else ''}`"
                   f": {args.requests} requests per side in {args.rounds} interleaved rounds, in process "
                   "(httpx ASGITransport).\n\n| ungated read us | gated read us | ratio | target |\n"
                   f"|---:|---:|---:|---:|\n| {ungated:.0f} | {gated:.0f} | {ratio:.2f} | <= 1.30 |\n")
        print(f"bench.gate: written to {write(section, started)}")
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())

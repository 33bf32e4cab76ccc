"""Issue 6: `GET /v1/public/dossiers/{code}` (no token) vs the primary-key read anchor.

Setup creates and submits one dossier through the API (a real code) and copies it into 10,000 dossiers with
distinct codes; the load rotates through them (the anchor reads one key of its 10,001-row table). The bench
app runs with DVC_PUBLIC_RATE_LIMIT_PER_MIN=0 (bench/cli.py) unless `--public-rate-limit N` asks otherwise:
every load request comes from 127.0.0.1, so each code is asked for from its own address, forwarded by the
(trusted) loopback peer in X-Forwarded-For, as citizens behind a reverse proxy would be: with a limit on,
the run measures what counting costs.
"""

from __future__ import annotations

from bench import seed
from bench.model import BenchContext, Request, Scenario, Variant
from bench.scenarios.dossier_create import PARTS

ROWS = 10_000


async def setup(ctx: BenchContext) -> Request:
    _, code = await seed.procedure(ctx.database_dsn, PARTS)
    headers = await seed.register_citizen(ctx, "001099000103")
    created = await ctx.http.post("/v1/dossiers", headers=headers, json={"procedure_code": code})
    submitted = await ctx.http.post(f"/v1/dossiers/{created.json()['id']}/submit", headers=headers)
    if submitted.status_code != 200:
        raise RuntimeError(f"public_dossier setup: {submitted.status_code} {submitted.text[:300]}")
    codes = await seed.copy_dossier(ctx.database_dsn, submitted.json()["id"], ROWS,
                                    code_prefix=submitted.json()["code"])
    return Request("GET", f"/v1/public/dossiers/{codes[0]}",
                   rotation=tuple(Variant(f"/v1/public/dossiers/{c}", {"X-Forwarded-For": _address(n)})
                                  for n, c in enumerate(codes)))


def _address(n: int) -> str:
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


SCENARIO = Scenario(name="public_dossier", anchor="pk_read",
                    description="public tracking by dossier code (no token, rate limit off) vs primary-key read",
                    setup=setup)

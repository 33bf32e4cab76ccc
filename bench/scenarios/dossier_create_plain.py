"""Issue 6 as written: a citizen creates a draft dossier (`POST /v1/dossiers`) without an Idempotency-Key."""

from __future__ import annotations

import json

from bench import seed
from bench.model import BenchContext, Request, Scenario
from bench.scenarios.dossier_create import PARTS


async def setup(ctx: BenchContext) -> Request:
    _, code = await seed.procedure(ctx.database_dsn, PARTS)
    headers = await seed.register_citizen(ctx, "001099000104")
    body = json.dumps({"procedure_code": code, "form": {}}).encode()
    return Request.json("POST", "/v1/dossiers", body, headers=headers)


SCENARIO = Scenario(name="dossier_create_plain", anchor="insert",
                    description="citizen creates a draft without Idempotency-Key (gate, procedure checks, insert)",
                    setup=setup)

"""Issue 6: a citizen creates a draft dossier (`POST /v1/dossiers`, a fresh Idempotency-Key each) vs insert.

Setup publishes, through the catalogue services, a procedure with no required document part and registers a
citizen through the API. Each request runs the gate (token + registration lookup), the idempotency claim, the
published-version read and checks, the dossier insert and the stored idempotent answer, in one transaction.
"""

from __future__ import annotations

import json

from bench import seed
from bench.model import BenchContext, Request, Scenario

PARTS = [{"key": "giay_to_khac", "name": "Giấy tờ khác (nếu có)", "required": False}]


async def setup(ctx: BenchContext) -> Request:
    _, code = await seed.procedure(ctx.database_dsn, PARTS)
    headers = await seed.register_citizen(ctx, "001099000101")
    body = json.dumps({"procedure_code": code, "form": {}}).encode()
    return Request.json("POST", "/v1/dossiers", body, headers=headers, unique_headers=("Idempotency-Key",))


SCENARIO = Scenario(name="dossier_create", anchor="insert",
                    description="citizen creates a draft (gate, idempotency, procedure checks, insert) vs insert",
                    setup=setup)

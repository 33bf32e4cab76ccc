"""Issue 6: a citizen submits a draft (`POST /v1/dossiers/{id}/submit`) for a procedure with no required
document part, vs insert. Together with `dossier_create` it gives the create + submit figure (PROFILE.md).

Setup publishes the procedure, registers a citizen, creates one draft through the API and copies that row
DRAFTS times (bench/seed.py), so every request submits a distinct draft (a single-use rotation): the gate,
the idempotency claim, the draft lock, the parts check, the dossier code, state `submitted`, deadlines,
`dossier.submitted` in the outbox, the stored answer.
"""

from __future__ import annotations

from bench import seed
from bench.model import BenchContext, Request, Scenario, Variant
from bench.scenarios.dossier_create import PARTS

DRAFTS = 8000


async def setup(ctx: BenchContext) -> Request:
    _, code = await seed.procedure(ctx.database_dsn, PARTS)
    headers = await seed.register_citizen(ctx, "001099000102")
    created = await ctx.http.post("/v1/dossiers", headers=headers, json={"procedure_code": code, "form": {}})
    if created.status_code != 201:
        raise RuntimeError(f"dossier_submit setup: {created.status_code} {created.text[-400:]}")
    ids = await seed.copy_dossier(ctx.database_dsn, created.json()["id"], DRAFTS)
    return Request("POST", f"/v1/dossiers/{ids[0]}/submit", headers, None, unique_headers=("Idempotency-Key",),
                   rotation=tuple(Variant(f"/v1/dossiers/{i}/submit") for i in ids), single_use=True)


SCENARIO = Scenario(name="dossier_submit", anchor="insert",
                    description="citizen submits a distinct draft (lock, checks, code, deadlines, outbox) vs insert",
                    setup=setup)

"""Idempotency and the code sequence under concurrency (both databases)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from app.core.db import get_database
from app.dossiers.models import Dossier
from tests.support.dossier_fixtures import OPTIONAL_PARTS


async def _count_dossiers(**where) -> int:
    async with get_database().read_sessions() as session:
        stmt = select(func.count()).select_from(Dossier)
        for name, value in where.items():
            stmt = stmt.where(getattr(Dossier, name) == value)
        return int(await session.scalar(stmt) or 0)


async def test_parallel_identical_creates_make_one_dossier(client, accounts, dossiers):
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    headers = {**citizen.headers, "Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {"procedure_code": code, "form": {}}
    responses = await asyncio.gather(*[client.post("/v1/dossiers", headers=headers, json=body)
                                       for _ in range(10)])
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    assert all(r.json()["code"] == "idempotency_in_progress" for r in responses if r.status_code == 409)
    assert await _count_dossiers(applicant_id=citizen.id) == 1
    replay = await client.post("/v1/dossiers", headers=headers, json=body)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == created[0].json()["id"]
    assert replay.headers["location"] == f"/v1/dossiers/{created[0].json()['id']}"
    reused = await client.post("/v1/dossiers", headers=headers, json={**body, "channel": "desk"})
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert await _count_dossiers(applicant_id=citizen.id) == 1


async def test_parallel_submits_assign_one_code(client, accounts, dossiers):
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    keyed = await asyncio.gather(*[dossiers.submit(client, citizen, draft["id"], headers=key) for _ in range(10)])
    assert {r.status_code for r in keyed} <= {200, 409}
    assert len({r.json()["code"] for r in keyed if r.status_code == 200}) == 1
    unkeyed = await asyncio.gather(*[dossiers.submit(client, citizen, draft["id"]) for _ in range(5)])
    assert all(r.status_code == 409 and r.json()["code"] == "dossier_not_draft" for r in unkeyed)
    replay = await dossiers.submit(client, citizen, draft["id"], headers=key)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["code"].endswith("-0001")


async def test_code_sequence_is_gap_free_under_concurrency(client, accounts, dossiers):
    agency = f"000.00.{uuid.uuid4().hex[:4]}.H42"
    code = await dossiers.procedure(agency, parts=OPTIONAL_PARTS)
    other = await dossiers.procedure(parts=OPTIONAL_PARTS)  # another agency keeps its own sequence
    citizens = [await accounts.citizen() for _ in range(20)]
    drafts = [await dossiers.draft(client, c, code) for c in citizens]
    other_draft = await dossiers.draft(client, citizens[0], other)
    submits = [dossiers.submit(client, c, d["id"]) for c, d in zip(citizens, drafts, strict=True)]
    responses = await asyncio.gather(*submits, dossiers.submit(client, citizens[0], other_draft["id"]))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    codes = sorted(r.json()["code"] for r in responses[:20])
    prefix = codes[0].rsplit("-", 1)[0]
    assert prefix.startswith(agency + "-")
    assert codes == [f"{prefix}-{n:04d}" for n in range(1, 21)]
    assert responses[20].json()["code"].endswith("-0001")

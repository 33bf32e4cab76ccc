"""Lists (filters, visibility, keyset pages) and public tracking (its rate limit: tests/core/test_ratelimit.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.core import clock
from app.core.db import get_database
from app.dossiers.models import Dossier
from tests.support.dossier_fixtures import OPTIONAL_PARTS

AGENCY = "000.00.12.H01"


async def _set(dossier_id: str, **values) -> None:
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(Dossier).where(Dossier.id == uuid.UUID(dossier_id)).values(
            version=Dossier.version + 1, **values))


async def _all_pages(client, url: str, headers: dict[str, str]) -> list[dict]:
    items, cursor = [], None
    while True:
        sep = "&" if "?" in url else "?"
        response = await client.get(url + (f"{sep}cursor={cursor}" if cursor else ""), headers=headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def test_official_list_filters_and_pages_newest_first(client, accounts, dossiers, monkeypatch):
    start = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)  # 09:00 local
    monkeypatch.setattr(clock, "now", lambda: start - timedelta(days=1))  # procedures in force by then
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    other_code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    foreign = await dossiers.procedure("000.00.55.H01", parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    submitted = []
    for i in range(7):
        monkeypatch.setattr(clock, "now", lambda i=i: start + timedelta(days=i // 3, minutes=i))
        procedure = other_code if i == 6 else code
        submitted.append(await dossiers.submitted(client, citizen, procedure))
    monkeypatch.undo()
    await dossiers.draft(client, citizen, code)  # drafts never reach officials
    await dossiers.submitted(client, citizen, foreign)  # another agency
    await _set(submitted[0]["id"], state="received", national_status_code=2)
    await _set(submitted[1]["id"], due_at=clock.now() - timedelta(days=1), state="processing")
    clerk = await accounts.official(AGENCY, ["reception"])
    h = clerk.headers

    everything = await _all_pages(client, "/v1/dossiers?limit=2", h)
    assert [d["id"] for d in everything] == [d["id"] for d in reversed(submitted)]
    by_state = await _all_pages(client, "/v1/dossiers?state=submitted&limit=2", h)
    assert {d["id"] for d in by_state} == {d["id"] for d in submitted[2:]}
    by_procedure = await _all_pages(client, f"/v1/dossiers?procedure={other_code}", h)
    assert [d["id"] for d in by_procedure] == [submitted[6]["id"]]
    by_day = await _all_pages(client, "/v1/dossiers?submitted_from=2024-03-05&submitted_to=2024-03-05", h)
    assert {d["id"] for d in by_day} == {d["id"] for d in submitted[3:6]}
    by_code = await _all_pages(client, f"/v1/dossiers?code={submitted[4]['code']}", h)
    assert [d["id"] for d in by_code] == [submitted[4]["id"]]
    overdue = await _all_pages(client, "/v1/dossiers?overdue=true", h)
    assert [d["id"] for d in overdue] == [submitted[1]["id"]]
    assert len(await _all_pages(client, "/v1/dossiers?overdue=false", h)) == 6
    assert len(await _all_pages(client, "/v1/dossiers?channel=online", h)) == 7
    assert await _all_pages(client, "/v1/dossiers?channel=desk", h) == []
    assert await _all_pages(client, "/v1/dossiers?agency=000.00.55.H01", h) == []
    bad = await client.get("/v1/dossiers?cursor=garbage", headers=h)
    assert bad.status_code == 422


async def test_list_visibility_per_kind(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    foreign = await dossiers.procedure("000.00.55.H01", parts=OPTIONAL_PARTS)
    alice, bob = await accounts.citizen(), await accounts.citizen()
    a1 = await dossiers.submitted(client, alice, code)
    a2 = await dossiers.draft(client, alice, code)
    b1 = await dossiers.submitted(client, bob, foreign)
    mine = await _all_pages(client, "/v1/dossiers", alice.headers)
    assert [d["id"] for d in mine] == [a2["id"], a1["id"]]  # drafts included, newest first
    assert [d["id"] for d in await _all_pages(client, "/v1/dossiers", bob.headers)] == [b1["id"]]
    reader = await accounts.client(["dossiers:read"], [AGENCY])
    assert [d["id"] for d in await _all_pages(client, "/v1/dossiers", reader.headers)] == [a1["id"]]
    no_scope = await accounts.client(["catalogue:write"], [AGENCY])
    assert await _all_pages(client, "/v1/dossiers", no_scope.headers) == []
    admin = await accounts.admin()
    assert {d["id"] for d in await _all_pages(client, "/v1/dossiers", admin.headers)} == {a1["id"], b1["id"]}


async def test_public_tracking_shows_no_personal_data(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS, name="Cấp giấy chứng nhận")
    citizen = await accounts.citizen()
    dossier = await dossiers.submitted(client, citizen, code, form={})
    response = await client.get(f"/v1/public/dossiers/{dossier['code']}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "code": dossier["code"], "procedure_name": "Cấp giấy chứng nhận", "agency_name": f"Agency {AGENCY}",
        "state": "submitted", "national_status_code": 1, "received_at": None, "due_at": None,
        "result_ready": False}
    await _set(dossier["id"], state="processed", national_status_code=9)
    assert (await client.get(f"/v1/public/dossiers/{dossier['code']}")).json()["result_ready"] is True
    assert (await client.get("/v1/public/dossiers/000.00.12.H01-240101-9999")).status_code == 404

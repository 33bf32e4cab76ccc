"""A representative files and sees the organisation's dossiers only while the mandate is in force: at its
`valid_until` the list, each dossier, filing and submitting answer as for someone never authorised; renewed, they
come back. The organisation itself keeps seeing its dossiers throughout."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.core import clock
from tests.support.dossier_fixtures import OPTIONAL_PARTS, Dossiers
from tests.support.identity_fixtures import Accounts


async def test_an_expired_mandate_stops_filing_and_viewing_for_the_organisation(
        client: httpx.AsyncClient, accounts: Accounts, dossiers: Dossiers, monkeypatch: pytest.MonkeyPatch) -> None:
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    org, rep, stranger = await accounts.organisation(), await accounts.citizen(), await accounts.citizen()
    start = clock.now()
    until = start + timedelta(days=30)
    added = await client.post("/v1/accounts/me/representatives", headers=org.headers,
                              json={"citizen_id": rep.citizen_id, "name": rep.name, "valid_until": until.isoformat()})
    assert added.status_code == 201, added.text
    acting = {**rep.headers, "X-On-Behalf-Of": str(org.id)}
    on_behalf = {"X-On-Behalf-Of": str(org.id)}
    filed = await dossiers.draft(client, rep, code, headers=on_behalf)
    assert (await dossiers.submit(client, rep, filed["id"], headers=on_behalf)).status_code == 200
    draft = await dossiers.draft(client, rep, code, headers=on_behalf)
    assert draft["applicant"]["id"] == str(org.id)

    async def answers() -> dict[str, tuple[int, str | None]]:
        calls = {
            "list": client.get("/v1/dossiers", headers=acting),
            "get": client.get(f"/v1/dossiers/{draft['id']}", headers=acting),
            "history": client.get(f"/v1/dossiers/{filed['id']}/history", headers=acting),
            "file": client.post("/v1/dossiers", headers=acting, json={"procedure_code": code}),
            "submit": client.post(f"/v1/dossiers/{draft['id']}/submit", headers=acting),
        }
        out = {}
        for name, call in calls.items():
            response = await call
            out[name] = (response.status_code, response.json().get("code") if response.status_code >= 400 else None)
        return out

    monkeypatch.setattr(clock, "now", lambda: until - timedelta(seconds=1))
    in_force = await client.get("/v1/dossiers", headers=acting)
    assert {item["id"] for item in in_force.json()["items"]} >= {filed["id"], draft["id"]}
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers=acting)).status_code == 200

    monkeypatch.setattr(clock, "now", lambda: until)
    refused = await answers()
    assert refused == {name: (403, "not_a_representative") for name in refused}, refused
    # as for a citizen never authorised (the same code and detail)
    never = await client.get("/v1/dossiers", headers={**stranger.headers, "X-On-Behalf-Of": str(org.id)})
    expired = await client.get("/v1/dossiers", headers=acting)
    assert (never.json()["code"], never.json()["detail"]) == (expired.json()["code"], expired.json()["detail"])
    # Without the header the citizen sees only their own dossiers: none of the organisation's.
    own = await client.get("/v1/dossiers", headers=rep.headers)
    assert own.status_code == 200 and own.json()["items"] == []
    assert (await client.get(f"/v1/dossiers/{filed['id']}", headers=rep.headers)).status_code == 404
    # The organisation itself still sees and files its dossiers; the draft is still a draft.
    mine = await client.get("/v1/dossiers", headers=org.headers)
    assert {item["id"] for item in mine.json()["items"]} >= {filed["id"], draft["id"]}
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers=org.headers)).json()["state"] == "draft"

    # Renewed by the organisation: the representative acts again.
    link = added.json()["id"]
    renewed = await client.patch(f"/v1/accounts/me/representatives/{link}",
                                 headers={**org.headers, "If-Match": added.headers["etag"]},
                                 json={"valid_until": (until + timedelta(days=365)).isoformat()})
    assert renewed.status_code == 200, renewed.text
    submitted = await client.post(f"/v1/dossiers/{draft['id']}/submit", headers=acting)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["actor"]["id"] == str(rep.id)


async def test_a_mandate_shortened_to_soon_ends_then(client: httpx.AsyncClient, accounts: Accounts,
                                                     dossiers: Dossiers, monkeypatch: pytest.MonkeyPatch) -> None:
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    org, rep = await accounts.organisation(), await accounts.citizen()
    link = await accounts.representative(org, rep)  # until withdrawn
    acting = {**rep.headers, "X-On-Behalf-Of": str(org.id)}
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=400))
    assert (await client.post("/v1/dossiers", headers=acting, json={"procedure_code": code})).status_code == 201
    soon = start + timedelta(days=401)
    shortened = await client.patch(f"/v1/accounts/me/representatives/{link}",
                                   headers={**org.headers, "If-Match": '"1"'}, json={"valid_until": soon.isoformat()})
    assert shortened.status_code == 200, shortened.text
    assert (await client.get("/v1/dossiers", headers=acting)).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: soon + timedelta(minutes=1))
    late = await client.post("/v1/dossiers", headers=acting, json={"procedure_code": code})
    assert (late.status_code, late.json()["code"]) == (403, "not_a_representative")

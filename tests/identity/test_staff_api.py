"""Officials and clients: who may create and change them, binding by identity, audit, suspension."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from app.core.db import get_database
from app.identity.models import AccountAudit
from tests.support.identity_fixtures import Accounts
from tests.support.idp import ISSUER, TestIdentityProvider

AGENCY = "000.00.12.H01"
OTHER = "000.00.13.H01"


def official_body(subject: str, agency: str = AGENCY, roles: list[str] | None = None) -> dict[str, object]:
    return {"issuer": ISSUER, "subject": subject, "email": f"{subject}@agency.gov.vn", "name": "Võ Minh Hải",
            "agency_code": agency, "roles": roles if roles is not None else ["reception"]}


async def test_system_admin_creates_an_official_who_can_then_log_in(client: httpx.AsyncClient, accounts: Accounts,
                                                                   idp: TestIdentityProvider) -> None:
    admin = await accounts.admin()
    await accounts.ensure_agency(AGENCY)
    response = await client.post("/v1/officials", headers=admin.headers,
                                 json=official_body("hai", roles=["reception", "processing"]))
    assert response.status_code == 201, response.text
    official_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/officials/{official_id}"
    assert response.json()["roles"] == ["processing", "reception"]
    me = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {idp.token('hai')}"})
    assert me.status_code == 200
    assert me.json()["id"] == official_id
    assert me.json()["kind"] == "official"
    # bound by (issuer, subject): another subject with the same email claim is not that official
    impostor = idp.token("someone-else", email="hai@agency.gov.vn")
    assert (await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {impostor}"})).json()["code"] \
        == "account_not_registered"
    again = await client.post("/v1/officials", headers=admin.headers, json=official_body("hai"))
    assert again.status_code == 409


async def test_unknown_agency_is_422(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    response = await client.post("/v1/officials", headers=admin.headers, json=official_body("x", "NOPE"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "agency_code"]


async def test_agency_admin_manages_only_its_own_agency(client: httpx.AsyncClient, accounts: Accounts) -> None:
    boss = await accounts.official(AGENCY, ["agency_admin"])
    await accounts.ensure_agency(OTHER)
    own = await client.post("/v1/officials", headers=boss.headers, json=official_body("own"))
    assert own.status_code == 201, own.text
    foreign = await client.post("/v1/officials", headers=boss.headers, json=official_body("far", OTHER))
    assert foreign.status_code == 403
    assert foreign.json()["code"] == "forbidden_role"
    escalate = await client.post("/v1/officials", headers=boss.headers,
                                 json=official_body("root", roles=["system_admin"]))
    assert escalate.status_code == 403
    other_official = await accounts.official(OTHER, ["reception"])
    hidden = await client.patch(f"/v1/officials/{other_official.id}", headers={**boss.headers, "If-Match": "*"},
                                json={"status": "suspended"})
    assert hidden.status_code == 404
    moved = await client.patch(f"/v1/officials/{own.json()['id']}", headers={**boss.headers, "If-Match": "*"},
                               json={"agency_code": OTHER})
    assert moved.status_code == 403
    listed = await client.get("/v1/officials", headers=boss.headers)
    assert {o["agency_code"] for o in listed.json()["items"]} == {AGENCY}
    assert other_official.id not in {o["id"] for o in listed.json()["items"]}


async def test_agency_admin_without_an_agency_manages_nobody(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """A system administrator demoted to agency_admin keeps no agency: it saw every official of every agency in
    the list (no agency filter) and, by null = null, every other official without one (system admins included)."""
    admin, demoted, peer = await accounts.admin(), await accounts.admin(), await accounts.admin()
    clerk = await accounts.official(AGENCY, ["reception"])
    tag = (await client.get(f"/v1/officials/{demoted.id}", headers=admin.headers)).headers["etag"]
    changed = await client.patch(f"/v1/officials/{demoted.id}", headers={**admin.headers, "If-Match": tag},
                                 json={"roles": ["agency_admin"]})
    assert changed.status_code == 200 and changed.json()["agency_code"] is None, changed.text
    for query in ("", f"?agency_code={AGENCY}"):
        listed = await client.get(f"/v1/officials{query}", headers=demoted.headers)
        assert listed.status_code == 200 and listed.json()["items"] == [], listed.text
    for target in (clerk, peer):
        assert (await client.get(f"/v1/officials/{target.id}", headers=demoted.headers)).status_code == 404
        patched = await client.patch(f"/v1/officials/{target.id}", headers={**demoted.headers, "If-Match": "*"},
                                     json={"name": "Đổi tên"})
        assert patched.status_code == 404, patched.text
    created = await client.post("/v1/officials", headers=demoted.headers, json=official_body("nobody"))
    assert created.status_code == 403


async def test_receptionist_cannot_manage_officials(client: httpx.AsyncClient, accounts: Accounts) -> None:
    clerk = await accounts.official(AGENCY, ["reception"])
    response = await client.get("/v1/officials", headers=clerk.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"


async def test_role_change_and_suspension_are_audited_and_immediate(client: httpx.AsyncClient,
                                                                    accounts: Accounts) -> None:
    admin = await accounts.admin()
    clerk = await accounts.official(AGENCY, ["reception"])
    changed = await client.patch(f"/v1/officials/{clerk.id}", headers={**admin.headers, "If-Match": '"1"'},
                                 json={"roles": ["reception", "approval"]})
    assert changed.status_code == 200
    assert changed.json()["roles"] == ["approval", "reception"]
    assert (await client.get("/v1/accounts/me", headers=clerk.headers)).status_code == 200
    suspended = await client.patch(f"/v1/officials/{clerk.id}", json={"status": "suspended"},
                                   headers={**admin.headers, "If-Match": changed.headers["etag"]})
    assert suspended.json()["status"] == "suspended"
    blocked = await client.get("/v1/accounts/me", headers=clerk.headers)
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "account_suspended"
    async with get_database().read_sessions() as session:
        rows = (await session.scalars(select(AccountAudit).where(AccountAudit.account_id == clerk.id)
                                      .order_by(AccountAudit.id))).all()
    assert [r.action for r in rows] == ["official.created", "official.updated", "official.updated"]
    assert rows[1].changes == {"roles": {"old": ["reception"], "new": ["approval", "reception"]}}
    assert rows[1].actor_id == admin.id
    assert rows[2].changes == {"status": {"old": "active", "new": "suspended"}}


async def test_admin_cannot_suspend_itself(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    response = await client.patch(f"/v1/officials/{admin.id}", headers={**admin.headers, "If-Match": "*"},
                                  json={"status": "suspended"})
    assert response.status_code == 422


async def test_clients_are_managed_by_system_admins(client: httpx.AsyncClient, accounts: Accounts,
                                                   idp: TestIdentityProvider) -> None:
    admin = await accounts.admin()
    await accounts.ensure_agency(AGENCY)
    created = await client.post("/v1/clients", headers=admin.headers, json={
        "client_id": "national-portal", "name": "Cổng DVC quốc gia", "scopes": ["dossiers:sync"],
        "agency_codes": [AGENCY]})
    assert created.status_code == 201, created.text
    client_account = created.json()
    assert client_account["scopes"] == ["dossiers:sync"]
    token = idp.token("national-portal", azp="national-portal")
    me = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    # the token must come from that client: another azp on the same subject is refused
    wrong = idp.token("national-portal", azp="someone-else")
    assert (await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {wrong}"})).status_code == 403
    patched = await client.patch(f"/v1/clients/{client_account['id']}",
                                 headers={**admin.headers, "If-Match": created.headers["etag"]},
                                 json={"scopes": ["dossiers:read", "dossiers:sync"]})
    assert patched.json()["scopes"] == ["dossiers:read", "dossiers:sync"]
    assert (await client.get("/v1/clients", headers=admin.headers)).json()["items"][0]["client_id"] \
        == "national-portal"
    duplicate = await client.post("/v1/clients", headers=admin.headers, json={
        "client_id": "national-portal", "name": "again"})
    assert duplicate.status_code == 409
    clerk = await accounts.official(AGENCY, ["agency_admin"])
    assert (await client.get("/v1/clients", headers=clerk.headers)).status_code == 403
    bad_scope = await client.post("/v1/clients", headers=admin.headers, json={
        "client_id": "x", "name": "x", "scopes": ["everything"]})
    assert bad_scope.status_code == 422

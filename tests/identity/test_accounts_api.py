"""Registration from the token, linking several identities to one person, own account, representatives."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import get_database
from app.identity.deps import acting_applicant, principal_for
from app.identity.models import Account, AccountAudit, Identity
from app.identity.tokens import get_verifier
from tests.support.identity_fixtures import Accounts
from tests.support.idp import TestIdentityProvider


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _audit_actions(account_id: uuid.UUID) -> list[str]:
    async with get_database().read_sessions() as session:
        rows = await session.scalars(select(AccountAudit.action).where(AccountAudit.account_id == account_id)
                                     .order_by(AccountAudit.id))
        return list(rows)


async def test_citizen_registers_from_the_token_not_the_body(client: httpx.AsyncClient,
                                                             idp: TestIdentityProvider) -> None:
    token = idp.citizen_token("001099012345", name="Lê Thị Cúc")
    response = await client.post("/v1/accounts", headers=bearer(token),
                                 json={"email": "cuc@example.vn", "phone": "0912345678"})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/accounts/me"
    body = response.json()
    assert body["kind"] == "citizen"
    assert body["citizen_id"] == "001099012345"
    assert body["name"] == "Lê Thị Cúc"
    assert body["status"] == "active"
    me = await client.get("/v1/accounts/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]
    assert await _audit_actions(uuid.UUID(body["id"])) == ["account.registered", "identity.linked"]


async def test_body_cannot_carry_identifiers(client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    token = idp.citizen_token("001099012345")
    response = await client.post("/v1/accounts", headers=bearer(token),
                                 json={"email": "a@example.vn", "citizen_id": "079099999999"})
    assert response.status_code == 422


async def test_registering_twice_is_409(client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    token = idp.citizen_token("001099012345")
    assert (await client.post("/v1/accounts", headers=bearer(token), json={"email": "a@example.vn"})).status_code \
        == 201
    again = await client.post("/v1/accounts", headers=bearer(token), json={"email": "a@example.vn"})
    assert again.status_code == 409
    assert again.json()["code"] == "account_exists"


async def test_second_identity_with_same_number_links_to_the_same_account(
        client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    first = idp.citizen_token("001099012345", subject="vneid-1")
    second = idp.citizen_token("001099012345", subject="broker-2")
    created = (await client.post("/v1/accounts", headers=bearer(first), json={"email": "a@example.vn"})).json()
    linked = await client.post("/v1/accounts", headers=bearer(second), json={"email": "other@example.vn"})
    assert linked.status_code == 201
    assert linked.json()["id"] == created["id"]
    assert linked.json()["email"] == "a@example.vn"  # the existing account's contacts are kept
    async with get_database().read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 1
        assert await session.scalar(select(func.count()).select_from(Identity)) == 2
    assert (await client.get("/v1/accounts/me", headers=bearer(second))).json()["id"] == created["id"]


async def test_organisation_registers_with_tax_code(client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    token = idp.org_token("0312345673")
    response = await client.post("/v1/accounts", headers=bearer(token), json={
        "email": "ketoan@congty.vn", "name": "Công ty CP Hà Tĩnh", "address": "1 Trần Phú"})
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "organisation"
    assert response.json()["tax_code"] == "0312345673"
    assert response.json()["name"] == "Công ty CP Hà Tĩnh"


@pytest.mark.parametrize("tax_code", ["0312345678", "031234567", "0312345673-000", "03123456731", "abcdefghij"])
async def test_invalid_tax_code_in_token_is_422(tax_code: str, client: httpx.AsyncClient,
                                                idp: TestIdentityProvider) -> None:
    response = await client.post("/v1/accounts", headers=bearer(idp.org_token(tax_code)),
                                 json={"email": "a@example.vn", "name": "X"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["token", "tax_code"]


async def test_token_without_identification_number_is_422(client: httpx.AsyncClient,
                                                          idp: TestIdentityProvider) -> None:
    response = await client.post("/v1/accounts", headers=bearer(idp.token()), json={"email": "a@example.vn"})
    assert response.status_code == 422


async def test_claim_names_come_from_settings(client: httpx.AsyncClient, idp: TestIdentityProvider,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core import settings as settings_module

    patched = settings_module.get_settings().model_copy(update={
        "oidc_claim_citizen_id": "SoDinhDanh", "oidc_claim_name": "HoVaTen"})
    monkeypatch.setattr("app.identity.service.get_settings", lambda: patched)
    token = idp.token("vneid-77", SoDinhDanh="079188000123", HoVaTen="Phạm Văn Dũng")
    response = await client.post("/v1/accounts", headers=bearer(token), json={"email": "d@example.vn"})
    assert response.status_code == 201, response.text
    assert response.json()["citizen_id"] == "079188000123"
    assert response.json()["name"] == "Phạm Văn Dũng"


@pytest.mark.parametrize("body", [{"email": "not-an-email"}, {"email": "a@example.vn", "phone": "12345"},
                                  {"email": "a@example.vn", "phone": "+8491234"}, {}])
async def test_contact_validation_is_422(body: dict[str, str], client: httpx.AsyncClient,
                                         idp: TestIdentityProvider) -> None:
    response = await client.post("/v1/accounts", headers=bearer(idp.citizen_token("001099012345")), json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_patch_me_changes_contacts_and_is_audited(client: httpx.AsyncClient, accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    response = await client.patch("/v1/accounts/me", headers=citizen.headers,
                                  json={"email": "moi@example.vn", "phone": "+84912345678"})
    assert response.status_code == 200
    assert response.json()["email"] == "moi@example.vn"
    assert response.json()["phone"] == "+84912345678"
    async with get_database().read_sessions() as session:
        row = await session.scalar(select(AccountAudit).where(AccountAudit.account_id == citizen.id,
                                                              AccountAudit.action == "account.contacts_changed"))
    assert row is not None
    assert row.actor_id == citizen.id
    assert row.changes["email"] == {"old": "an@example.vn", "new": "moi@example.vn"}
    refused = await client.patch("/v1/accounts/me", headers=citizen.headers, json={"citizen_id": "079099999999"})
    assert refused.status_code == 422


async def test_representatives_lifecycle(client: httpx.AsyncClient, accounts: Accounts) -> None:
    org = await accounts.organisation()
    citizen = await accounts.citizen()
    added = await client.post("/v1/accounts/me/representatives", headers=org.headers,
                              json={"citizen_id": citizen.citizen_id, "name": "nguyễn  văn AN"})
    assert added.status_code == 201, added.text
    link_id = added.json()["id"]
    assert added.headers["location"] == f"/v1/accounts/me/representatives/{link_id}"
    duplicate = await client.post("/v1/accounts/me/representatives", headers=org.headers,
                                  json={"citizen_id": citizen.citizen_id, "name": citizen.name})
    assert duplicate.status_code == 409
    listed = await client.get("/v1/accounts/me/representatives", headers=org.headers)
    assert [item["citizen_id"] for item in listed.json()["items"]] == [citizen.citizen_id]
    # the Location names a readable link: the organisation's own only (another's, or none, is the same 404)
    located = await client.get(added.headers["location"], headers=org.headers)
    assert located.status_code == 200 and located.json() == added.json() == listed.json()["items"][0]
    assert (await client.get(added.headers["location"], headers=citizen.headers)).status_code == 403
    foreign = await client.get(added.headers["location"], headers=(await accounts.organisation()).headers)
    missing = await client.get(f"/v1/accounts/me/representatives/{uuid.uuid4()}", headers=org.headers)
    assert foreign.status_code == missing.status_code == 404
    assert {k: v for k, v in foreign.json().items() if k not in ("instance", "request_id")} \
        == {k: v for k, v in missing.json().items() if k not in ("instance", "request_id")}
    # a citizen cannot manage representatives, nor see the organisation's list
    assert (await client.get("/v1/accounts/me/representatives", headers=citizen.headers)).status_code == 403
    other_org = await accounts.organisation()
    assert (await client.delete(f"/v1/accounts/me/representatives/{link_id}",
                                headers=other_org.headers)).status_code == 404
    assert (await client.delete(f"/v1/accounts/me/representatives/{link_id}",
                                headers=org.headers)).status_code == 204
    assert (await client.get("/v1/accounts/me/representatives", headers=org.headers)).json()["items"] == []
    assert (await client.get(added.headers["location"], headers=org.headers)).status_code == 404
    assert await _audit_actions(org.id) == ["account.registered", "identity.linked", "representative.added",
                                            "representative.removed"]


async def test_unknown_citizen_cannot_be_a_representative(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """An unregistered number and a registered one with another name get the same answer: the route tells an
    organisation nothing about who is registered or what they are called."""
    org = await accounts.organisation()
    citizen = await accounts.citizen(name="Trần Thị Bình")
    answers = []
    for body in ({"citizen_id": "001099000000", "name": "Trần Thị Bình"},
                 {"citizen_id": citizen.citizen_id, "name": "Tran Thi Binh"},  # diacritics are part of a name
                 {"citizen_id": citizen.citizen_id, "name": "Trần Thị"}):
        response = await client.post("/v1/accounts/me/representatives", headers=org.headers, json=body)
        assert response.status_code == 422, body
        answers.append({k: v for k, v in response.json().items() if k not in ("instance", "request_id")})
    assert answers[0] == answers[1] == answers[2]
    assert citizen.name not in str(answers)
    nameless = await client.post("/v1/accounts/me/representatives", headers=org.headers,
                                 json={"citizen_id": citizen.citizen_id})
    assert nameless.status_code == 422 and nameless.json()["errors"][0]["loc"] == ["body", "name"]
    assert (await client.get("/v1/accounts/me/representatives", headers=org.headers)).json()["items"] == []


async def test_acting_applicant(accounts: Accounts) -> None:
    org = await accounts.organisation()
    rep = await accounts.citizen()
    stranger = await accounts.citizen()
    await accounts.representative(org, rep)
    rep_p = await principal_for(await get_verifier().verify(rep.token))
    stranger_p = await principal_for(await get_verifier().verify(stranger.token))
    org_p = await principal_for(await get_verifier().verify(org.token))
    async with get_database().read_sessions() as session:
        own = await acting_applicant(rep_p, None, session)
        assert (own.applicant_id, own.actor_id, own.on_behalf) == (rep.id, rep.id, False)
        acting = await acting_applicant(rep_p, org.id, session)
        assert (acting.applicant_id, acting.applicant_kind, acting.actor_id) == (org.id, "organisation", rep.id)
        assert acting.on_behalf
        from app.core.problems import ProblemError

        for principal, target in ((stranger_p, org.id), (org_p, rep.id), (rep_p, uuid.uuid4())):
            with pytest.raises(ProblemError) as refused:
                await acting_applicant(principal, target, session)
            assert refused.value.code == "not_a_representative"
    await accounts.suspend(org)
    async with get_database().read_sessions() as session:
        with pytest.raises(ProblemError):
            await acting_applicant(rep_p, org.id, session)

"""Hostile or careless identity input: each is a 4xx problem naming what is wrong, never a 500 or a silent write."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import get_database
from app.identity.models import Account, Identity
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import Accounts, random_citizen_id
from tests.support.idp import TestIdentityProvider

BODY = {"email": "an@example.vn"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _accounts() -> int:
    async with get_database().read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(Account)) or 0


async def test_concurrent_registrations_of_one_number_link_to_one_account(client: httpx.AsyncClient,
                                                                          idp: TestIdentityProvider) -> None:
    """PostgreSQL: the registrations that lost the race for the new account hit its unique number (a 500)."""
    citizen_id = random_citizen_id()
    tokens = [idp.citizen_token(citizen_id, subject=f"provider-{i}") for i in range(6)]
    answers = await asyncio.gather(*[client.post("/v1/accounts", headers=bearer(t), json=BODY) for t in tokens])
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    async with get_database().read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Identity)) == 6


# A lone surrogate (`"\ud800"` in the token's JSON) was a 500 on SQLite and a 422 on PostgreSQL.
@pytest.mark.parametrize("subject", ["s" * 256, "citizen\x00one", "citizen\ud800one"],
                         ids=["too_long", "nul", "lone_surrogate"])
async def test_a_subject_that_cannot_be_stored_is_token_invalid(client: httpx.AsyncClient,
                                                                idp: TestIdentityProvider, subject: str) -> None:
    token = idp.citizen_token(random_citizen_id(), subject=subject)
    expect_problem(await client.post("/v1/accounts", headers=bearer(token), json=BODY), 401, "token_invalid")
    expect_problem(await client.get("/v1/accounts/me", headers=bearer(token)), 401, "token_invalid")
    assert await _accounts() == 0


async def test_an_exp_beyond_the_float_range_is_token_invalid(client: httpx.AsyncClient,
                                                              idp: TestIdentityProvider) -> None:
    token = idp.citizen_token(random_citizen_id(), exp=10**400)
    expect_problem(await client.get("/v1/accounts/me", headers=bearer(token)), 401, "token_invalid")


@pytest.mark.parametrize("name", [{"first": "An"}, "N" * 401, "An\x00"])
async def test_a_name_claim_that_is_not_a_name_is_refused(client: httpx.AsyncClient, idp: TestIdentityProvider,
                                                          name: object) -> None:
    token = idp.citizen_token(random_citizen_id(), name=name)
    response = await client.post("/v1/accounts", headers=bearer(token), json=BODY)
    assert expect_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["token", "name"]
    assert await _accounts() == 0


async def test_control_characters_in_account_text_are_refused(client: httpx.AsyncClient,
                                                              accounts: Accounts) -> None:
    admin = await accounts.admin()
    await accounts.ensure_agency("A1")
    official = {"issuer": "https://idp.example", "subject": "s1", "email": "a@agency.gov.vn", "name": "Bình\x00",
                "agency_code": "A1"}
    response = await client.post("/v1/officials", json=official, headers=admin.headers)
    assert expect_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["body", "name"]
    citizen = await accounts.citizen()
    response = await client.patch("/v1/accounts/me", json={"address": "1 Trần Phú\x00"}, headers=citizen.headers)
    assert expect_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["body", "address"]
    assert (await client.get("/v1/accounts/me", headers=citizen.headers)).json()["address"] is None


async def test_a_phone_or_citizen_id_with_a_trailing_newline_is_refused(client: httpx.AsyncClient,
                                                                      accounts: Accounts) -> None:
    # The identifiers' patterns ended in `$`, which also matches before a final newline: the phone number was stored
    # with it (and sent on to the SMS provider so).
    citizen = await accounts.citizen()
    response = await client.patch("/v1/accounts/me", json={"phone": "0912345678\n"}, headers=citizen.headers)
    assert expect_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["body", "phone"]
    assert (await client.get("/v1/accounts/me", headers=citizen.headers)).json()["phone"] is None
    organisation = await accounts.organisation()
    response = await client.post("/v1/accounts/me/representatives", json={"citizen_id": f"{citizen.citizen_id}\n",
                                                                             "name": "Nguyễn Văn An"},
                                 headers=organisation.headers)
    problem = expect_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "citizen_id"]
    assert "12-digit" in problem["errors"][0]["msg"], problem

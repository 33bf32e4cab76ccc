"""The typed dependencies other domains use: roles, scopes, applicants, X-On-Behalf-Of, level of assurance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends

from app.identity.deps import (
    ActingDep,
    AdminDep,
    ApplicantDep,
    CallerDep,
    Principal,
    acr_satisfies,
    client,
    official,
    official_or_client,
    require_assurance,
)
from app.main import create_app
from tests.support.identity_fixtures import Accounts
from tests.support.idp import TestIdentityProvider


def assured(caller: CallerDep) -> Principal:
    require_assurance(caller)
    return caller


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()

    @app.get("/scratch/caller")
    async def scratch_caller(caller: CallerDep) -> dict[str, object]:
        return {"kind": caller.kind, "roles": sorted(caller.roles), "acr": caller.acr}

    @app.get("/scratch/applicant")
    async def scratch_applicant(caller: ApplicantDep) -> str:
        return caller.kind

    @app.get("/scratch/admin")
    async def scratch_admin(caller: AdminDep) -> str:
        return "ok"

    @app.get("/scratch/reception")
    async def scratch_reception(caller: Annotated[Principal, official("reception")]) -> str:
        return "ok"

    @app.get("/scratch/sync")
    async def scratch_sync(caller: Annotated[Principal, client("dossiers:sync")]) -> str:
        return "ok"

    @app.get("/scratch/either")
    async def scratch_either(
            caller: Annotated[Principal, official_or_client(roles=("finance",), scopes=("reports:read",))]) -> str:
        return caller.kind

    @app.get("/scratch/acting")
    async def scratch_acting(acting: ActingDep) -> dict[str, str]:
        return {"applicant": str(acting.applicant_id), "actor": str(acting.actor_id)}

    @app.get("/scratch/submit")
    async def scratch_submit(caller: Annotated[Principal, Depends(assured)]) -> str:
        return "ok"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


def _code(response: httpx.Response) -> str | int:
    return response.json()["code"] if response.status_code >= 400 else response.status_code


async def test_roles_and_scopes(scratch: httpx.AsyncClient, accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    cashier = await accounts.official("000.00.12.H01", ["finance"])
    admin = await accounts.admin()
    sync = await accounts.client(["dossiers:sync"], ["000.00.12.H01"])
    reader = await accounts.client(["reports:read"])
    expected = {
        "/scratch/reception": {citizen: "forbidden_role", clerk: 200, cashier: "forbidden_role", admin: 200,
                               sync: "forbidden_role"},
        "/scratch/sync": {citizen: "forbidden_role", clerk: "forbidden_role", sync: 200, reader: "scope_missing"},
        "/scratch/either": {clerk: "forbidden_role", cashier: 200, admin: 200, reader: 200, sync: "scope_missing",
                            citizen: "forbidden_role"},
        "/scratch/admin": {clerk: "forbidden_role", admin: 200, sync: "forbidden_role"},
        "/scratch/applicant": {citizen: 200, clerk: "forbidden_role", sync: "forbidden_role"},
    }
    for path, by_actor in expected.items():
        for actor, outcome in by_actor.items():
            response = await scratch.get(path, headers=actor.headers)
            assert _code(response) == outcome, (path, actor.kind, sorted(actor.roles | actor.scopes))


async def test_forbidden_answers_carry_a_bearer_challenge(scratch: httpx.AsyncClient, accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    response = await scratch.get("/scratch/admin", headers=citizen.headers)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_on_behalf_of_header(scratch: httpx.AsyncClient, accounts: Accounts) -> None:
    org = await accounts.organisation()
    rep = await accounts.citizen()
    stranger = await accounts.citizen()
    await accounts.representative(org, rep)
    acting = await scratch.get("/scratch/acting", headers={**rep.headers, "X-On-Behalf-Of": str(org.id)})
    assert acting.json() == {"applicant": str(org.id), "actor": str(rep.id)}
    own = await scratch.get("/scratch/acting", headers=rep.headers)
    assert own.json() == {"applicant": str(rep.id), "actor": str(rep.id)}
    refused = await scratch.get("/scratch/acting", headers={**stranger.headers, "X-On-Behalf-Of": str(org.id)})
    assert _code(refused) == "not_a_representative"


async def test_required_assurance_level(scratch: httpx.AsyncClient, accounts: Accounts, idp: TestIdentityProvider,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.settings import get_settings

    citizen = await accounts.citizen()
    assert (await scratch.get("/scratch/submit", headers=citizen.headers)).status_code == 200  # not required
    patched = get_settings().model_copy(update={"oidc_required_acr": "2"})
    monkeypatch.setattr("app.identity.deps.get_settings", lambda: patched)
    assert _code(await scratch.get("/scratch/submit", headers=citizen.headers)) == "assurance_too_low"
    level2 = idp.citizen_token(citizen.citizen_id or "", subject=citizen.subject, acr="2")
    level1 = idp.citizen_token(citizen.citizen_id or "", subject=citizen.subject, acr="1")
    assert (await scratch.get("/scratch/submit", headers={"Authorization": f"Bearer {level2}"})).status_code == 200
    assert _code(await scratch.get("/scratch/submit", headers={"Authorization": f"Bearer {level1}"})) \
        == "assurance_too_low"


@pytest.mark.parametrize(("acr", "required", "ok"), [
    (None, "", True), (None, "2", False), ("2", "2", True), ("3", "2", True), ("1", "2", False),
    ("urn:vneid:loa:3", "urn:vneid:loa:2", True), ("urn:vneid:loa:1", "urn:vneid:loa:2", False),
    ("other:3", "urn:vneid:loa:2", False), ("high", "high", True), ("low", "high", False),
    pytest.param("9" * 4400, "2", False, id="4400_digits"),  # a level no int() takes: was a 500
    ("\u0663", "2", False), ("loa:\u0663", "loa:2", False),  # ٣, an Arabic-Indic three, is no level
    ("loa:000000003", "loa:2", True), pytest.param("loa:" + "0" * 20 + "3", "loa:2", False, id="21_digits"),
    pytest.param("2\n", "2", False, id="final_newline"),
])
def test_acr_levels(acr: str | None, required: str, ok: bool) -> None:
    assert acr_satisfies(acr, required) is ok

"""Forged, broken and misused tokens: each is refused with its code, and nothing is written."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from app.core.db import get_database
from app.identity.models import Account, AccountAudit, Identity
from tests.support.identity_fixtures import Accounts
from tests.support.idp import AUDIENCE, ISSUER, TestIdentityProvider

CITIZEN_ID = "001099012345"
BODY = {"email": "an@example.vn"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, object]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "forged-subject", "iat": now,
                                 "exp": now + 600, "citizen_id": CITIZEN_ID}
    claims.update(overrides)
    return claims


def alg_none(idp: TestIdentityProvider) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': idp.kid})}.{_segment(_claims())}."


def key_confusion(idp: TestIdentityProvider) -> str:
    """HS256 with the provider's public key as the HMAC secret: the classic algorithm-confusion attack."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': idp.kid})}.{_segment(_claims())}"
    signature = hmac.new(idp.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def another_key(idp: TestIdentityProvider) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return idp.citizen_token(CITIZEN_ID, subject="forged-subject", key=other)


def tampered(idp: TestIdentityProvider) -> str:
    header, _payload, signature = idp.citizen_token("001099000001", subject="forged-subject").split(".")
    return f"{header}.{_segment(_claims())}.{signature}"


FORGERIES: dict[str, tuple[Callable[[TestIdentityProvider], str], str]] = {
    "not a JWT": (lambda idp: "this-is-not-a-jwt", "token_invalid"),
    "three garbage segments": (lambda idp: "abc.def.ghi", "token_invalid"),
    "alg none": (alg_none, "token_invalid"),
    "HS256 with the public key (key confusion)": (key_confusion, "token_invalid"),
    "unknown kid": (lambda idp: idp.citizen_token(CITIZEN_ID, headers={"kid": "no-such-key"}), "token_invalid"),
    "valid signature by another key": (another_key, "token_invalid"),
    "tampered payload": (tampered, "token_invalid"),
    "expired": (lambda idp: idp.citizen_token(CITIZEN_ID, lifetime_s=-120), "token_expired"),
    "nbf in the future": (lambda idp: idp.citizen_token(CITIZEN_ID, nbf=int(time.time()) + 600), "token_invalid"),
    "wrong iss": (lambda idp: idp.citizen_token(CITIZEN_ID, issuer="https://evil.example"), "token_invalid"),
    "wrong aud": (lambda idp: idp.citizen_token(CITIZEN_ID, audience="another-service"), "token_invalid"),
    "missing sub": (lambda idp: idp.token(citizen_id=CITIZEN_ID, sub=None), "token_invalid"),
    "missing exp": (lambda idp: idp.token(citizen_id=CITIZEN_ID, exp=None), "token_invalid"),
    "missing iat": (lambda idp: idp.token(citizen_id=CITIZEN_ID, iat=None), "token_invalid"),
    "over 8 KiB": (lambda idp: idp.citizen_token(CITIZEN_ID, padding="x" * 9000), "token_invalid"),
}


async def _counts() -> tuple[int, int, int]:
    async with get_database().read_sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Account)) or 0,
                await session.scalar(select(func.count()).select_from(Identity)) or 0,
                await session.scalar(select(func.count()).select_from(AccountAudit)) or 0)


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_missing_header_is_token_missing(client: httpx.AsyncClient) -> None:
    before = await _counts()
    response = await client.post("/v1/accounts", json=BODY)
    _assert_problem(response, 401, "token_missing")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["www-authenticate"]
    assert await _counts() == before


async def test_other_scheme_is_token_missing(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/accounts", json=BODY, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    _assert_problem(response, 401, "token_missing")


@pytest.mark.parametrize("case", list(FORGERIES))
async def test_forged_token_is_refused_and_writes_nothing(case: str, client: httpx.AsyncClient,
                                                          idp: TestIdentityProvider) -> None:
    make, code = FORGERIES[case]
    before = await _counts()
    response = await client.post("/v1/accounts", json=BODY, headers={"Authorization": f"Bearer {make(idp)}"})
    _assert_problem(response, 401, code)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert await _counts() == before


async def test_the_genuine_token_is_accepted(client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    """The control for the suite above: the same request with an honest token registers."""
    token = idp.citizen_token(CITIZEN_ID, subject="forged-subject")
    response = await client.post("/v1/accounts", json=BODY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    assert (await _counts())[:2] == (1, 1)


async def test_unregistered_identity_is_403(client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    before = await _counts()
    headers = {"Authorization": f"Bearer {idp.citizen_token(CITIZEN_ID)}"}
    _assert_problem(await client.get("/v1/accounts/me", headers=headers), 403, "account_not_registered")
    _assert_problem(await client.patch("/v1/accounts/me", json={"phone": "0912345678"}, headers=headers),
                    403, "account_not_registered")
    assert await _counts() == before


async def test_suspended_account_is_403_on_the_next_request(client: httpx.AsyncClient,
                                                            accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    assert (await client.get("/v1/accounts/me", headers=citizen.headers)).status_code == 200
    await accounts.suspend(citizen)
    before = await _counts()
    response = await client.patch("/v1/accounts/me", json={"email": "new@example.vn"}, headers=citizen.headers)
    _assert_problem(response, 403, "account_suspended")
    _assert_problem(await client.get("/v1/accounts/me", headers=citizen.headers), 403, "account_suspended")
    assert await _counts() == before
    async with get_database().read_sessions() as session:
        assert (await session.get(Account, citizen.id)).email == "an@example.vn"  # type: ignore[union-attr]


async def test_citizen_token_on_an_official_route_is_forbidden(client: httpx.AsyncClient,
                                                               accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    await accounts.ensure_agency("000.00.12.H01")
    before = await _counts()
    response = await client.post("/v1/officials", headers=citizen.headers, json={
        "issuer": ISSUER, "subject": "someone", "email": "x@agency.gov.vn", "name": "X",
        "agency_code": "000.00.12.H01", "roles": ["system_admin"]})
    _assert_problem(response, 403, "forbidden_role")
    assert await _counts() == before

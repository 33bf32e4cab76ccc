"""The verifier's key handling: refresh on unknown kid (rate-limited), provider outages, other algorithms."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt

from app.core.problems import ProblemError
from app.core.settings import Settings, get_settings
from app.identity.tokens import MAX_TOKEN_BYTES, TokenVerifier, UrlSource
from tests.support.idp import AUDIENCE, ISSUER, TestIdentityProvider


class FakeSource:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.loads = 0
        self.failing = False

    async def load(self) -> dict[str, Any]:
        self.loads += 1
        if self.failing:
            raise httpx.ConnectError("identity provider down")
        return self.document


def settings_for(database_url: str, **changes: Any) -> Settings:
    return get_settings().model_copy(update=changes)


async def _code(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(ProblemError) as refused:
        await verifier.verify(token)
    return refused.value.code


async def test_known_key_needs_no_fetch_and_outage_does_not_matter(database_url: str,
                                                                   idp: TestIdentityProvider) -> None:
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(settings_for(database_url, oidc_jwks_min_refresh_s=0), source)
    assert (await verifier.verify(idp.citizen_token("001099012345"))).issuer == ISSUER
    source.failing = True
    for _ in range(3):
        await verifier.verify(idp.citizen_token("001099012345"))
    assert source.loads == 1  # keys are cached; a provider outage does not affect known keys


async def test_unknown_kid_with_provider_down_is_503_and_never_passes(database_url: str,
                                                                      idp: TestIdentityProvider) -> None:
    source = FakeSource(idp.jwks)
    source.failing = True
    verifier = TokenVerifier(settings_for(database_url, oidc_jwks_min_refresh_s=0), source)
    assert await _code(verifier, idp.citizen_token("001099012345")) == "identity_provider_unavailable"
    source.failing = False
    await verifier.verify(idp.citizen_token("001099012345"))  # recovers once the provider answers
    source.failing = True
    token = idp.citizen_token("001099012345", headers={"kid": "rotated"})
    assert await _code(verifier, token) == "identity_provider_unavailable"


async def test_unknown_kid_refresh_is_rate_limited(database_url: str, idp: TestIdentityProvider) -> None:
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(settings_for(database_url, oidc_jwks_min_refresh_s=60), source)
    await verifier.verify(idp.citizen_token("001099012345"))
    bogus = idp.citizen_token("001099012345", headers={"kid": "bogus"})
    for _ in range(5):
        assert await _code(verifier, bogus) == "token_invalid"
    assert source.loads == 1  # one fetch within the refresh interval, however many unknown kids arrive


async def test_rotated_key_is_picked_up_on_refresh(database_url: str, idp: TestIdentityProvider) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = jwk.construct(pem, "ES256").public_key().to_dict()
    public.update({"kid": "ec-2", "use": "sig", "alg": "ES256"})
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(settings_for(database_url, oidc_jwks_min_refresh_s=0), source)
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + 60}, pem.decode(),
                       algorithm="ES256", headers={"kid": "ec-2"})
    assert await _code(verifier, token) == "token_invalid"
    source.document = {"keys": [*idp.jwks["keys"], public]}
    assert (await verifier.verify(token)).subject == "s"


async def test_algorithm_outside_settings_is_refused(database_url: str, idp: TestIdentityProvider) -> None:
    verifier = TokenVerifier(settings_for(database_url, oidc_algorithms="ES256"), FakeSource(idp.jwks))
    assert await _code(verifier, idp.citizen_token("001099012345")) == "token_invalid"


async def test_leeway_accepts_small_clock_skew(database_url: str, idp: TestIdentityProvider) -> None:
    verifier = TokenVerifier(settings_for(database_url, oidc_leeway_s=30), FakeSource(idp.jwks))
    await verifier.verify(idp.citizen_token("001099012345", lifetime_s=-10))
    assert await _code(verifier, idp.citizen_token("001099012345", lifetime_s=-60)) == "token_expired"


async def test_size_limit_is_checked_before_parsing(database_url: str, idp: TestIdentityProvider) -> None:
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(settings_for(database_url), source)
    assert await _code(verifier, "x" * (MAX_TOKEN_BYTES + 1)) == "token_invalid"
    assert source.loads == 0


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError):
        Settings(oidc_algorithms="RS256,HS256")
    with pytest.raises(ValueError):
        Settings(oidc_algorithms="none")


async def test_jwks_url_is_fetched_with_httpx(database_url: str, idp: TestIdentityProvider,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, content=json.dumps(idp.jwks))

    real_client = httpx.AsyncClient

    def fake_client(**kwargs: Any) -> httpx.AsyncClient:
        return real_client(transport=httpx.MockTransport(handler), **kwargs)

    monkeypatch.setattr("app.identity.tokens.httpx.AsyncClient", fake_client)
    verifier = TokenVerifier(settings_for(database_url), UrlSource("https://idp.test.dvc/jwks"))
    await verifier.verify(idp.citizen_token("001099012345"))
    await verifier.verify(idp.citizen_token("001099012346"))
    assert calls == ["https://idp.test.dvc/jwks"]


async def test_unreachable_jwks_url_is_503(database_url: str, idp: TestIdentityProvider) -> None:
    verifier = TokenVerifier(settings_for(database_url), UrlSource("http://127.0.0.1:9/jwks.json"))
    assert await _code(verifier, idp.citizen_token("001099012345")) == "identity_provider_unavailable"


async def test_503_through_the_app(client: httpx.AsyncClient, idp: TestIdentityProvider,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = FakeSource(idp.jwks)
    source.failing = True
    verifier = TokenVerifier(get_settings(), source)
    monkeypatch.setattr("app.identity.deps.get_verifier", lambda: verifier)
    response = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {idp.citizen_token('1')}"})
    assert response.status_code == 503
    assert response.json()["code"] == "identity_provider_unavailable"
    assert "retry-after" in response.headers

"""Session 11 audit of the token verifier: a cached verdict does not outlive its signing key, the JWKS is
fetched again once it is `DVC_OIDC_JWKS_MAX_AGE_S` old, and malformed numeric claims are 401, not 500."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jws, jwt

from app.core.settings import Settings, get_settings
from app.identity.tokens import TokenVerifier
from tests.identity.test_forged_tokens import BODY, CITIZEN_ID, _assert_problem, _counts
from tests.identity.test_tokens import FakeSource, _code
from tests.support.identity_fixtures import Accounts
from tests.support.idp import AUDIENCE, ISSUER, TestIdentityProvider


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(**changes: Any) -> Settings:
    return get_settings().model_copy(update={"oidc_jwks_min_refresh_s": 0, **changes})


def _ec_key(kid: str) -> tuple[str, dict[str, Any]]:
    """A second provider key (ES256): its private PEM and its public JWK."""
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = jwk.construct(pem, "ES256").public_key().to_dict()
    public.update({"kid": kid, "use": "sig", "alg": "ES256"})
    return pem, public


def _ec_token(pem: str, kid: str, subject: str = "s") -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 600}, pem,
                      algorithm="ES256", headers={"kid": kid})


def _count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checks: list[str] = []
    real = TokenVerifier._signature_matches

    def counting(token: str, key: Any, alg: str) -> bool:
        checks.append(alg)
        return real(token, key, alg)

    monkeypatch.setattr(TokenVerifier, "_signature_matches", staticmethod(counting))
    return checks


# --- 1. a cached verdict is only as good as the key that signed the token ---

async def test_cached_token_is_refused_once_its_kid_leaves_the_jwks(database_url: str,
                                                                    idp: TestIdentityProvider) -> None:
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(_settings(), source)
    old = idp.citizen_token(CITIZEN_ID)
    assert (await verifier.verify(old)).issuer == ISSUER  # verified and cached
    pem, public = _ec_key("ec-2")
    source.document = {"keys": [public]}  # the provider rotates the RSA key out
    assert (await verifier.verify(_ec_token(pem, "ec-2"))).subject == "s"  # unknown kid: the JWKS is refreshed
    assert await _code(verifier, old) == "token_invalid"  # exactly like a token never seen before
    assert await _code(verifier, idp.citizen_token(CITIZEN_ID)) == "token_invalid"


async def test_cached_kidless_token_is_checked_again_after_a_refresh(database_url: str,
                                                                     idp: TestIdentityProvider) -> None:
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(_settings(), source)
    kidless = idp.citizen_token(CITIZEN_ID, headers={"kid": None})
    await verifier.verify(kidless)
    pem, public = _ec_key("ec-2")
    source.document = {"keys": [public]}
    await verifier.verify(_ec_token(pem, "ec-2"))
    assert await _code(verifier, kidless) == "token_invalid"


async def test_the_cache_checks_the_kid_not_the_signature(database_url: str, idp: TestIdentityProvider,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed of the cache stays: a token seen before costs a kid lookup, even after the JWKS is re-read."""
    checks = _count_signature_checks(monkeypatch)
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(_settings(), source)
    token = idp.citizen_token(CITIZEN_ID)
    await verifier.verify(token)
    assert len(checks) == 1
    await verifier.verify(token)
    pem, public = _ec_key("ec-2")
    source.document = {"keys": [*idp.jwks["keys"], public]}  # a key is added, the RSA one stays
    await verifier.verify(_ec_token(pem, "ec-2"))
    assert source.loads == 2 and len(checks) == 2
    await verifier.verify(token)
    assert len(checks) == 2


def _aged_verifier(idp: TestIdentityProvider) -> tuple[Clock, FakeSource, TokenVerifier, str]:
    """A verifier refetching the JWKS at most once a minute and at least every 600 s, on a clock the test moves,
    with a citizen token it accepts."""
    clock = Clock()
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(_settings(oidc_jwks_min_refresh_s=60, oidc_jwks_max_age_s=600), source, clock=clock)
    return clock, source, verifier, idp.citizen_token(CITIZEN_ID)


async def test_jwks_is_fetched_again_when_older_than_max_age(database_url: str,
                                                              idp: TestIdentityProvider) -> None:
    """Without any unknown kid arriving, a withdrawn key stops verifying within DVC_OIDC_JWKS_MAX_AGE_S."""
    clock, source, verifier, token = _aged_verifier(idp)
    await verifier.verify(token)
    clock.now += 599
    await verifier.verify(token)
    await verifier.verify(idp.citizen_token(CITIZEN_ID))
    assert source.loads == 1
    source.document = {"keys": [_ec_key("ec-2")[1]]}  # the RSA key is withdrawn
    clock.now += 2
    assert await _code(verifier, token) == "token_invalid"
    assert source.loads == 2
    assert await _code(verifier, token) == "token_invalid"
    assert source.loads == 2  # a refusal of a known token does not fetch again within the refresh interval


async def test_provider_outage_at_max_age_keeps_the_known_keys(database_url: str,
                                                               idp: TestIdentityProvider) -> None:
    clock, source, verifier, token = _aged_verifier(idp)
    await verifier.verify(token)
    source.failing = True
    clock.now += 601
    await verifier.verify(token)  # the keys last fetched still verify while the provider is down
    await verifier.verify(idp.citizen_token(CITIZEN_ID))
    assert source.loads == 2  # one attempt, then none within DVC_OIDC_JWKS_MIN_REFRESH_S
    clock.now += 60
    source.failing = False
    source.document = {"keys": [_ec_key("ec-2")[1]]}
    assert await _code(verifier, token) == "token_invalid"
    assert source.loads == 3


def test_max_age_setting() -> None:
    assert Settings().oidc_jwks_max_age_s == 600
    assert Settings(oidc_jwks_max_age_s=60).oidc_jwks_max_age_s == 60
    with pytest.raises(ValueError):
        Settings(oidc_jwks_max_age_s=0)


async def test_withdrawn_key_is_401_through_the_app(client: httpx.AsyncClient, accounts: Accounts,
                                                    idp: TestIdentityProvider,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = FakeSource(idp.jwks)
    verifier = TokenVerifier(_settings(), source)
    monkeypatch.setattr("app.identity.deps.get_verifier", lambda: verifier)
    citizen = await accounts.citizen()
    assert (await client.get("/v1/accounts/me", headers=citizen.headers)).status_code == 200
    pem, public = _ec_key("ec-2")
    source.document = {"keys": [public]}
    unknown = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {_ec_token(pem, 'ec-2')}"})
    _assert_problem(unknown, 403, "account_not_registered")  # verified with the new key: the JWKS was re-read
    response = await client.get("/v1/accounts/me", headers=citizen.headers)
    _assert_problem(response, 401, "token_invalid")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# --- 2. malformed numeric claims in a correctly signed token: 401 token_invalid, nothing written ---

def _signed(idp: TestIdentityProvider, **overrides: Any) -> str:
    """A token signed by the provider's key whose claims may hold null, Infinity, strings... where numbers go."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "forged-subject", "iat": now,
                              "exp": now + 600, "citizen_id": CITIZEN_ID}
    claims.update(overrides)
    return jws.sign(claims, idp.private_pem, headers={"kid": idp.kid}, algorithm="RS256")


MALFORMED_NUMERIC_CLAIMS: dict[str, Callable[[TestIdentityProvider], str]] = {
    "nbf null": lambda idp: _signed(idp, nbf=None),
    "iat null": lambda idp: _signed(idp, iat=None),
    "exp null": lambda idp: _signed(idp, exp=None),
    "exp Infinity": lambda idp: _signed(idp, exp=float("inf")),
    "exp NaN": lambda idp: _signed(idp, exp=float("nan")),
    "nbf -Infinity": lambda idp: _signed(idp, nbf=float("-inf")),
    "iat Infinity": lambda idp: _signed(idp, iat=float("inf")),
    "exp past the float range": lambda idp: _signed(idp, exp=10 ** 400),
    "exp as a string": lambda idp: _signed(idp, exp=str(int(time.time()) + 600)),
    "exp as true": lambda idp: _signed(idp, exp=True),
    "nbf as a list": lambda idp: _signed(idp, nbf=[1]),
    "iat as an object": lambda idp: _signed(idp, iat={"at": 1}),
}


@pytest.mark.parametrize("case", list(MALFORMED_NUMERIC_CLAIMS))
async def test_malformed_numeric_claim_is_401_and_writes_nothing(case: str, client: httpx.AsyncClient,
                                                                 idp: TestIdentityProvider) -> None:
    before = await _counts()
    token = MALFORMED_NUMERIC_CLAIMS[case](idp)
    response = await client.post("/v1/accounts", json=BODY, headers={"Authorization": f"Bearer {token}"})
    _assert_problem(response, 401, "token_invalid")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert await _counts() == before


async def test_float_numeric_dates_are_accepted(client: httpx.AsyncClient, idp: TestIdentityProvider) -> None:
    """The control: NumericDate may have a fraction (RFC 7519 §2)."""
    now = time.time()
    token = _signed(idp, iat=now, nbf=now - 1.5, exp=now + 600.25)
    response = await client.post("/v1/accounts", json=BODY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text

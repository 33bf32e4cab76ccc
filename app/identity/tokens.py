"""Bearer token verification: OpenID Connect JWTs checked against the identity provider's JWKS.

Only asymmetric algorithms from settings are accepted, so a token signed with HS256 using the public key as
the secret (key confusion) or `alg: none` never verifies. Keys are constructed once per (kid, alg) and kept:
building an RSA key object costs more than verifying a signature with it. The JWKS is fetched again when a
token names an unknown `kid` and once it is `DVC_OIDC_JWKS_MAX_AGE_S` old (so a key the provider withdraws stops
verifying), at most once per `DVC_OIDC_JWKS_MIN_REFRESH_S`; an unreachable JWKS never lets a token through, and
while it cannot be fetched the keys fetched last keep verifying.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import httpx
from jose import jwk, jws, jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError, JWKError, JWSError, JWTClaimsError, JWTError

from app.core.problems import ProblemError
from app.core.settings import Settings, get_settings
from app.core.text import has_control_characters, is_valid_unicode

log = logging.getLogger("app.identity.tokens")

MAX_TOKEN_BYTES = 8 * 1024
MAX_SUBJECT_LENGTH = 255  # identities.subject
JWKS_TIMEOUT_S = 5.0
VERIFIED_CACHE_SIZE = 10_000
_KTY_BY_ALG_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


def unauthorized(code: str, detail: str) -> ProblemError:
    """401 with the RFC 6750 challenge: no error attribute when no credentials were sent at all."""
    challenge = 'Bearer realm="dvc-service"'
    if code != "token_missing":
        challenge += ', error="invalid_token"'
    return ProblemError(code, detail, headers={"WWW-Authenticate": challenge})


def identity_provider_unavailable() -> ProblemError:
    return ProblemError("identity_provider_unavailable",
                        "The identity provider's signing keys cannot be fetched; try again shortly.",
                        headers={"Retry-After": "30"})


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    subject: str
    claims: dict[str, Any]


class KeySet:
    """One JWKS document; key objects are built lazily and kept per (kid, alg)."""

    def __init__(self, document: dict[str, Any]) -> None:
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise ValueError("JWKS document has no 'keys' list")
        self._jwks: list[dict[str, Any]] = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        self.kids = frozenset(k["kid"] for k in self._jwks if isinstance(k.get("kid"), str))
        self._constructed: dict[tuple[str | None, str], list[Key]] = {}

    def candidates(self, kid: str | None, alg: str) -> list[Key]:
        cached = self._constructed.get((kid, alg))
        if cached is not None:
            return cached
        kty = _KTY_BY_ALG_PREFIX.get(alg[:2])
        built: list[Key] = []
        for data in self._jwks:
            if kid is not None and data.get("kid") != kid:
                continue
            if data.get("kty") != kty or data.get("alg", alg) != alg:
                continue
            try:
                built.append(jwk.construct(data, alg))
            except (JWKError, ValueError, TypeError):
                log.warning("ignoring an unusable JWKS key", extra={"kid": data.get("kid")})
        if built:  # only successes are kept, so an unknown kid is looked up again after a refresh
            self._constructed[(kid, alg)] = built
        return built


class JwksSource(Protocol):
    async def load(self) -> dict[str, Any]: ...


class FileSource:
    """A local JWKS file, for air-gapped sites and tests; re-read on refresh so keys can rotate."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    async def load(self) -> dict[str, Any]:
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        document: dict[str, Any] = json.loads(text)
        return document


class UrlSource:
    def __init__(self, url: str) -> None:
        self.url = url

    async def load(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_S, follow_redirects=False) as http:
            response = await http.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document


class DevSource:
    """The development identity provider's key (DVC_ENV=dev only)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def load(self) -> dict[str, Any]:
        from app.identity.devidp import jwks

        return await asyncio.to_thread(jwks, self.settings)


class NoSource:
    async def load(self) -> dict[str, Any]:
        raise RuntimeError("no JWKS configured: set DVC_OIDC_JWKS_URL or DVC_OIDC_JWKS_FILE")


def source_for(settings: Settings) -> JwksSource:
    if settings.oidc_jwks_file:
        return FileSource(settings.oidc_jwks_file)
    if settings.oidc_jwks_url:
        return UrlSource(settings.oidc_jwks_url)
    if settings.dev_features:
        return DevSource(settings)
    return NoSource()


class _Verdict(NamedTuple):
    """A verified token as cached: its claims cannot change, only the clock and the provider's key set can."""

    verified: VerifiedToken
    expires: float
    not_before: float
    kid: str | None
    keys: KeySet  # the key set it was verified against


class TokenVerifier:
    def __init__(self, settings: Settings, source: JwksSource, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.source = source
        self.algorithms = frozenset(settings.algorithm_list)
        self._clock = clock  # for the JWKS's age and the refresh interval; tests move it by hand
        self._keys: KeySet | None = None
        self._loaded_at = -math.inf
        self._last_attempt = -math.inf
        self._unavailable = False
        # asyncio locks belong to one event loop; tests drive the app from several.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        # Verifying an RSA signature again for a token already verified costs as much as the registration lookup.
        self._verified: dict[str, _Verdict] = {}
        self._options = {
            "verify_signature": False,  # checked just before, with the cached key objects
            "require_iss": True, "require_aud": True, "require_sub": True, "require_exp": True,
            "require_iat": True, "verify_at_hash": False, "leeway": settings.oidc_leeway_s,
        }

    async def verify(self, token: str) -> VerifiedToken:
        if self._keys is not None and self._clock() - self._loaded_at >= self.settings.oidc_jwks_max_age_s:
            await self._refresh_stale()
        cached = self._verified.get(token)
        if cached is not None and self._still_valid(cached):
            return cached.verified
        verdict = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # oldest first; a bounded dict, not a leak
        self._verified[token] = verdict
        return verdict.verified

    def _still_valid(self, cached: _Verdict) -> bool:
        """Same bytes, same verdict, while the clock allows it and the signing key is still the provider's: a
        token whose kid has left the JWKS is verified again (and refused) exactly like one never seen."""
        now = time.time()
        leeway = self.settings.oidc_leeway_s
        if not cached.not_before - leeway <= now < cached.expires + leeway:
            return False
        keys = self._keys
        if cached.keys is keys:
            return True
        # Keys were fetched again since: a lookup of the kid, no signature check. A token without a kid was
        # verified against whichever key matched, so it is verified again once against the new set.
        return cached.kid is not None and keys is not None and cached.kid in keys.kids

    async def _verify(self, token: str) -> _Verdict:
        if len(token) > MAX_TOKEN_BYTES:
            raise unauthorized("token_invalid", "The token is larger than 8 KiB.")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise unauthorized("token_invalid", "The token is not a signed JWT.") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise unauthorized("token_invalid", "The token's signing algorithm is not accepted.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise unauthorized("token_invalid", "The token's key id is malformed.")
        keys = await self._keys_for(kid, alg)
        key_set = self._keys  # the set `keys` came from: nothing below awaits
        if key_set is None or not any(self._signature_matches(token, key, alg) for key in keys):
            raise unauthorized("token_invalid", "The token's signature does not verify.")
        claims = self._claims(token)
        verified = VerifiedToken(issuer=claims["iss"], subject=claims["sub"], claims=claims)
        return _Verdict(verified, float(claims["exp"]), float(claims.get("nbf", 0)), kid, key_set)

    @staticmethod
    def _signature_matches(token: str, key: Key, alg: str) -> bool:
        try:
            jws.verify(token, key, [alg])
        except (JWSError, JWTError):
            return False
        return True

    def _claims(self, token: str) -> dict[str, Any]:
        self._check_numeric_dates(token)
        try:
            claims: dict[str, Any] = jwt.decode(token, "", options=dict(self._options),
                                                audience=self.settings.oidc_audience,
                                                issuer=self.settings.oidc_issuer)
        except ExpiredSignatureError:
            raise unauthorized("token_expired", "The token has expired.") from None
        except JWTClaimsError as error:
            raise unauthorized("token_invalid", f"The token's claims are not acceptable: {error}.") from None
        except JWTError as error:
            raise unauthorized("token_invalid", f"The token is not acceptable: {error}.") from None
        except (TypeError, OverflowError, ValueError):  # python-jose's own int() of a claim; checked above too
            raise unauthorized("token_invalid", "The token's claims are not acceptable.") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise unauthorized("token_invalid", "The token has no subject.")
        # The subject is stored (identities.subject, 255 characters) and looked up on every request: one that
        # cannot be stored was a 422 at registration on PostgreSQL and silently kept on SQLite; a lone surrogate
        # (`"\ud800"` in the token's JSON) was a 500 on SQLite.
        if len(subject) > MAX_SUBJECT_LENGTH or has_control_characters(subject) or not is_valid_unicode(subject):
            raise unauthorized("token_invalid", "The token's subject is too long, has control characters or is not "
                                                "valid Unicode.")
        return claims

    @staticmethod
    def _check_numeric_dates(token: str) -> None:
        """`exp`, `iat` and `nbf` are JSON numbers (RFC 7519 NumericDate), finite and within the float range
        verify() keeps them in. python-jose int()s them itself: `null` was a TypeError, `Infinity` (which
        Python's JSON parser accepts) an OverflowError, both a 500; `true` and numeric strings passed as numbers."""
        try:
            claims = jwt.get_unverified_claims(token)  # the signature has been verified: these are the claims
        except JWTError as error:
            raise unauthorized("token_invalid", f"The token is not acceptable: {error}.") from None
        for name in ("exp", "iat", "nbf"):
            if name in claims and not _is_numeric_date(claims[name]):
                raise unauthorized("token_invalid", f"The token's {name} is not a finite number.")

    async def _keys_for(self, kid: str | None, alg: str) -> list[Key]:
        if self._keys is not None:
            found = self._keys.candidates(kid, alg)
            if found:
                return found
        await self._refresh()
        if self._keys is not None:
            found = self._keys.candidates(kid, alg)
            if found:
                return found
        if self._unavailable:
            raise identity_provider_unavailable()
        raise unauthorized("token_invalid", "The token was signed by a key the identity provider does not hold.")

    def _lock(self) -> asyncio.Lock:
        return self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    async def _refresh_stale(self) -> None:
        """The JWKS is older than DVC_OIDC_JWKS_MAX_AGE_S: fetch it again, without making other requests wait
        for the provider when one is already fetching (the keys held meanwhile are the ones fetched last)."""
        if not self._lock().locked():
            await self._refresh()

    async def _refresh(self) -> None:
        async with self._lock():
            now = self._clock()
            if now - self._last_attempt < self.settings.oidc_jwks_min_refresh_s:
                return  # someone refreshed moments ago (or failed to): do not hammer the provider
            self._last_attempt = now
            try:
                self._keys = KeySet(await self.source.load())
                self._loaded_at = now
                self._unavailable = False
            except Exception as error:  # any failure to fetch or parse means "unavailable", never "let through"
                self._unavailable = True
                log.warning("JWKS fetch failed", extra={"error": type(error).__name__})


def _is_numeric_date(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past the float range
        return False


_verifier: TokenVerifier | None = None


def get_verifier() -> TokenVerifier:
    """The process-wide verifier; rebuilt when the settings object changes (tests reload settings)."""
    global _verifier
    settings = get_settings()
    if _verifier is None or _verifier.settings is not settings:
        _verifier = TokenVerifier(settings, source_for(settings))
    return _verifier

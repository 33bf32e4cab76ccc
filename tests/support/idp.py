"""A test identity provider: a real RSA key, a real JWKS file, real signed JWTs (python-jose)."""

from __future__ import annotations

import functools
import json
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.backends.base import Key

ISSUER = "https://idp.test.dvc"
AUDIENCE = "dvc-service"


@functools.lru_cache(maxsize=32)
def _signing_key(pem: bytes) -> Key:
    """The key object, built once per PEM: jwt.encode given PEM bytes loads them on every call, and loading an
    RSA private key checks it (~40 ms: most of the suite's token minting, thousands of tokens)."""
    return jwk.construct(pem, "RS256")


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TestIdentityProvider:
    __test__ = False  # not a test class

    def __init__(self, directory: Path) -> None:
        self.kid = "test-key-1"
        self.private_pem = _rsa_pem()
        public = jwk.construct(self.private_pem, "RS256").public_key()
        self.public_pem = public.to_pem()
        public_jwk = public.to_dict()
        public_jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.jwks = {"keys": [public_jwk]}
        self.jwks_path = directory / "jwks.json"
        self.jwks_path.write_text(json.dumps(self.jwks))

    def token(self, subject: str | None = None, *, issuer: str = ISSUER, audience: str = AUDIENCE,
              lifetime_s: int = 600, headers: dict[str, Any] | None = None, key: bytes | None = None,
              **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject or uuid.uuid4().hex,
                                   "iat": now, "exp": now + lifetime_s}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, _signing_key(key or self.private_pem), algorithm="RS256",
                          headers={"kid": self.kid, **(headers or {})})

    def citizen_token(self, citizen_id: str, subject: str | None = None, **claims: Any) -> str:
        claims.setdefault("name", "Nguyễn Văn An")
        return self.token(subject or f"citizen-{citizen_id}", citizen_id=citizen_id, **claims)

    def org_token(self, tax_code: str, subject: str | None = None, **claims: Any) -> str:
        claims.setdefault("name", "Công ty TNHH Thử Nghiệm")
        return self.token(subject or f"org-{tax_code}", tax_code=tax_code, **claims)

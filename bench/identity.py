"""Tokens for authenticated scenarios: a fresh RSA key, its JWKS file, and RS256 tokens the app accepts.

The same approach as tests/support/idp.py (copied, not imported: tests/ is not a package the harness may
rely on). `env()` is merged into the app's environment, so the app verifies these tokens from the file.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

ISSUER = "https://idp.bench.dvc"
AUDIENCE = "dvc-service"


class BenchIdentity:
    def __init__(self, directory: Path, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = f"bench-{uuid.uuid4().hex[:8]}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        public_jwk = jwk.construct(self.private_pem, "RS256").public_key().to_dict()
        public_jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.jwks_path = directory / "jwks.json"
        self.jwks_path.write_text(json.dumps({"keys": [public_jwk]}))

    def env(self) -> dict[str, str]:
        """The app's settings that make it trust this key (DVC_OIDC_*)."""
        return {"DVC_OIDC_JWKS_FILE": str(self.jwks_path), "DVC_OIDC_ISSUER": self.issuer,
                "DVC_OIDC_AUDIENCE": self.audience}

    def token(self, subject: str | None = None, *, lifetime_s: int = 3600, **claims: Any) -> str:
        """A signed token; lives an hour so it outlasts any bench run. `None` claims are left out."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "sub": subject or uuid.uuid4().hex,
                                   "iat": now, "exp": now + lifetime_s, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return str(jwt.encode(payload, self.private_pem, algorithm="RS256", headers={"kid": self.kid}))

    def citizen_token(self, citizen_id: str, **claims: Any) -> str:
        claims.setdefault("name", "Nguyễn Văn An")
        return self.token(f"citizen-{citizen_id}", citizen_id=citizen_id, **claims)

    def org_token(self, tax_code: str, **claims: Any) -> str:
        claims.setdefault("name", "Công ty TNHH Thử Nghiệm")
        return self.token(f"org-{tax_code}", tax_code=tax_code, **claims)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

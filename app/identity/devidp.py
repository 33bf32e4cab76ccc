"""The development identity provider (DVC_ENV=dev only): a local key pair, its JWKS, and signed tokens.

It lets a newcomer try every route with curl. It exists nowhere else: the JWKS route answers 404 and the
command refuses outside `dev`, and the verifier trusts this key only in `dev` with no JWKS configured.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from app.core.settings import Settings

KEY_ID = "dvc-dev-1"
ALGORITHM = "RS256"


def _key_path(settings: Settings) -> Path:
    return Path(settings.var_dir) / "dev-idp" / "private-key.pem"


def private_key_pem(settings: Settings) -> bytes:
    """The dev signing key, generated on first use (owner-readable only)."""
    path = _key_path(settings)
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(temporary, path)  # atomic and exclusive: two workers starting at once share the first key
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes()


def jwks(settings: Settings) -> dict[str, Any]:
    public = jwk.construct(private_key_pem(settings), ALGORITHM).public_key().to_dict()
    public.update({"kid": KEY_ID, "use": "sig", "alg": ALGORITHM})
    return {"keys": [public]}


def issue_token(settings: Settings, subject: str, claims: dict[str, Any], lifetime_s: int = 3600) -> str:
    now = int(time.time())
    payload = {"iss": settings.oidc_issuer, "aud": settings.oidc_audience, "sub": subject, "iat": now,
               "exp": now + lifetime_s, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(payload, private_key_pem(settings).decode(), algorithm=ALGORITHM,
                      headers={"kid": KEY_ID})

"""I/O of an agency's document signing key (app.catalogue.signing_keys): the upload, and the certificate shown."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from app.catalogue.schemas import Strict


class SigningKeyIn(Strict):
    """An agency's signing key as its CA issued it: a PKCS#12 file (.p12 / .pfx), base64-encoded, and the
    passphrase that opens it (used once, never stored)."""

    pkcs12: str = Field(min_length=1, max_length=200_000, description="The PKCS#12 file, standard base64.")
    passphrase: SecretStr = Field(max_length=1024, description="Opens the file; empty for an unencrypted one.")


class SigningKeyOut(BaseModel):
    """The certificate of an agency's signing key in force (never the key)."""

    model_config = ConfigDict(from_attributes=True)

    agency_code: str
    subject: str = Field(description="The certificate's subject, RFC 4514.")
    issuer: str = Field(description="The issuing CA, RFC 4514.")
    serial_number: str = Field(description="Hexadecimal.")
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str = Field(description="SHA-256 of the certificate (DER), hexadecimal.")
    uploaded_at: datetime

"""Each agency's own signing key (chữ ký số của cơ quan): uploaded by a system administrator, kept encrypted, used
by app.core.pdfsign for the documents the agency issues (notices, fee receipts, the process slip).

The upload is the PKCS#12 file the CA issued with its passphrase. The passphrase is used once: the file is opened
here, checked (a private key, the certificate that matches it, valid now) and stored again as a PKCS#12 without a
passphrase, Fernet-encrypted under DVC_SECRETS_KEYS (app.core.secrets; `dvc secrets rotate` covers it). Keeping
the passphrase instead (encrypted the same way, beside the file) would protect nothing more, since whoever holds
DVC_SECRETS_KEYS could open both, and would mean two secrets to decrypt and the CA's weaker PKCS#12 ciphers at
rest.

Every upload is a new row whose id is the key's version; a replaced or removed key keeps its row (certificate,
who uploaded and removed it, when), without its key material: the agency's key history is its audit trail.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import AgencySigningKey
from app.catalogue.service import field_error, get_agency
from app.core import clock, pdfsign
from app.core.etag import check_if_match, version_tag
from app.core.problems import ProblemError, not_found, validation_problem

log = logging.getLogger("app.catalogue.signing_keys")

_LIVE = AgencySigningKey.removed_at.is_(None)


@dataclass(frozen=True)
class CheckedKey:
    """An uploaded key, opened and checked: what is stored and what is shown."""

    pkcs12: bytes  # without a passphrase
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str


def _public(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def check_pkcs12(data: bytes, passphrase: str, now: datetime) -> CheckedKey:
    """Open and check an uploaded PKCS#12 (blocking: RSA key checks take ~100 ms); 422 with a code saying what is
    wrong with it."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, passphrase.encode() or None)
    except (ValueError, TypeError):
        # cryptography tells a wrong passphrase and a file that is not PKCS#12 apart in no stable way.
        raise ProblemError("signing_key_unreadable", "The file is not a PKCS#12 (.p12, .pfx) file, or the "
                                                     "passphrase does not open it.") from None
    if key is None or certificate is None:
        raise ProblemError("signing_key_incomplete", "The file must hold the private key and its certificate.")
    if _public(key.public_key()) != _public(certificate.public_key()):
        raise ProblemError("signing_key_incomplete", "The file's certificate is not the one of its private key.")
    if certificate.not_valid_after_utc <= now:
        raise ProblemError("signing_certificate_expired",
                           f"The certificate expired on {certificate.not_valid_after_utc.date().isoformat()}.")
    if certificate.not_valid_before_utc > now:
        raise ProblemError("signing_certificate_not_yet_valid", "The certificate is valid from "
                           f"{certificate.not_valid_before_utc.isoformat()} only.")
    stored = pkcs12.serialize_key_and_certificates(
        None, key, certificate, chain or None,  # type: ignore[arg-type]  # the key types PKCS#12 itself allows
        serialization.NoEncryption())
    try:
        pdfsign.load_pkcs12(stored)  # what signing will do with it: a key type pyHanko cannot use fails here
    except (ValueError, TypeError, NotImplementedError):
        raise ProblemError("signing_key_unreadable", "The key in the file cannot sign documents.") from None
    return CheckedKey(pkcs12=stored, subject=certificate.subject.rfc4514_string(),
                      issuer=certificate.issuer.rfc4514_string(), serial_number=format(certificate.serial_number, "x"),
                      not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
                      fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex())


async def current_key(session: AsyncSession, agency_code: str) -> AgencySigningKey | None:
    """The agency's key in force, or None."""
    return (await session.execute(select(AgencySigningKey).where(AgencySigningKey.agency_code == agency_code, _LIVE))
            ).scalar_one_or_none()


async def key_of(session: AsyncSession, agency_code: str) -> AgencySigningKey:
    """The agency's key in force; 404 when the agency does not exist or has none."""
    if await get_agency(session, agency_code) is None:
        raise not_found("agency")
    key = await current_key(session, agency_code)
    if key is None:
        raise not_found("signing key of this agency")
    return key


def _decode(pkcs12_base64: str) -> bytes:
    try:
        return base64.b64decode(pkcs12_base64, validate=True)
    except (binascii.Error, ValueError):
        raise validation_problem([field_error(["body", "pkcs12"], "must be standard base64")]) from None


async def _retire(session: AsyncSession, key: AgencySigningKey, actor_id: uuid.UUID | None) -> None:
    """Take `key` out of force (its key material with it); 412 when a concurrent change did so first."""
    retired = await session.execute(update(AgencySigningKey).where(AgencySigningKey.id == key.id, _LIVE)
                                    .values(removed_at=clock.now(), removed_by=actor_id, pkcs12=None)
                                    .execution_options(synchronize_session=False))
    if getattr(retired, "rowcount", 1) != 1:
        raise ProblemError("precondition_failed", "The agency's signing key changed meanwhile; read it again.")


async def put_key(session: AsyncSession, actor_id: uuid.UUID | None, agency_code: str, pkcs12_base64: str,
                  passphrase: str, if_match: str | None) -> AgencySigningKey:
    """Upload (no key yet: If-Match optional) or replace (If-Match with the key's ETag) the agency's key."""
    if await get_agency(session, agency_code) is None:
        raise not_found("agency")
    data = _decode(pkcs12_base64)
    old = await current_key(session, agency_code)
    if old is not None:
        check_if_match(old.id, if_match, "signing key")
    elif if_match is not None and if_match.strip() != "*":
        raise ProblemError("precondition_failed", "The agency has no signing key now.")
    checked = await asyncio.to_thread(check_pkcs12, data, passphrase, clock.now())
    if old is not None:
        await _retire(session, old, actor_id)
    key = AgencySigningKey(agency_code=agency_code, pkcs12=base64.b64encode(checked.pkcs12).decode(),
                           subject=checked.subject, issuer=checked.issuer, serial_number=checked.serial_number,
                           not_before=checked.not_before, not_after=checked.not_after,
                           fingerprint_sha256=checked.fingerprint_sha256, uploaded_at=clock.now(),
                           uploaded_by=actor_id)
    session.add(key)
    try:
        await session.flush()
    except IntegrityError as error:  # another upload for the agency got in first
        raise ProblemError("precondition_failed", "The agency's signing key changed meanwhile; read it again."
                           ) from error
    log.info("signing key of agency %s %s by %s: %s, serial %s, valid until %s", agency_code,
             "replaced" if old is not None else "uploaded", actor_id, checked.subject, checked.serial_number,
             checked.not_after.date().isoformat())
    return key


async def remove_key(session: AsyncSession, actor_id: uuid.UUID | None, agency_code: str,
                     if_match: str | None) -> None:
    """Take the agency's key out of force (If-Match required): its documents fall back to the deployment's key."""
    key = await key_of(session, agency_code)
    check_if_match(key.id, if_match, "signing key")
    await _retire(session, key, actor_id)
    log.info("signing key of agency %s removed by %s (serial %s)", agency_code, actor_id, key.serial_number)


def key_etag(key: AgencySigningKey) -> str:
    return version_tag(key.id)


async def document_signer(session: AsyncSession, agency_code: str) -> pdfsign.KeptKeySigner | None:
    """The signer of the agency's key in force, or None (pdfsign then falls back to the deployment's key).

    The key's version is read for every document (one indexed lookup), the key itself only when this worker has
    not loaded that version yet: a replaced or removed key signs nothing after the change is committed."""
    version = await session.scalar(select(AgencySigningKey.id).where(AgencySigningKey.agency_code == agency_code,
                                                                     _LIVE))
    if version is None:
        return None
    if (signer := pdfsign.kept_agency_signer(agency_code, version)) is not None:
        return signer
    # Not loaded here yet: the key in force now, with its version (a replacement between the two reads included).
    live = (await session.execute(select(AgencySigningKey.id, AgencySigningKey.pkcs12)
                                  .where(AgencySigningKey.agency_code == agency_code, _LIVE))).first()
    if live is None or live.pkcs12 is None:
        return None
    return await asyncio.to_thread(pdfsign.keep_agency_signer, agency_code, live.id, base64.b64decode(live.pkcs12))

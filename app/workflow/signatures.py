"""Verifying the digital signature embedded in a result PDF (Decree 45/2020: electronic results are signed).

pyHanko checks integrity (the signed byte ranges hash to the signed digest, and the signature covers the
whole file: nothing was appended after signing) and the signer's certificate chain against the trust roots
in `DVC_SIGNATURE_TRUST_ROOTS` (comma-separated PEM files). Revocation is not fetched: the service runs
without outbound access to CAs; a province that needs OCSP/CRL checks adds them here.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from asn1crypto import x509
from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    # cryptography 51 warns that DSA is deprecated when pyHanko merely imports its key type; the service never
    # accepts DSA keys, and the warning printed on every `dvc` command.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, message=".*DSA.*")
    from pyhanko.keys import load_certs_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

from app.core.problems import ProblemError
from app.core.settings import get_settings


@dataclass(frozen=True)
class SignatureInfo:
    signer: str  # the certificate subject, human readable
    serial_number: str
    issuer: str
    signed_at: str | None  # the signing time the signer claims (ISO 8601), if any

    def as_dict(self) -> dict[str, Any]:
        return {"signer": self.signer, "serial_number": self.serial_number, "issuer": self.issuer,
                "signed_at": self.signed_at}


@lru_cache(maxsize=8)
def _trust_roots(setting: str) -> tuple[x509.Certificate, ...]:
    paths = [p.strip() for p in setting.split(",") if p.strip()]
    return tuple(load_certs_from_pemder([str(Path(p)) for p in paths])) if paths else ()


def trust_roots() -> tuple[x509.Certificate, ...]:
    settings = get_settings()
    if settings.dev_features and not settings.signature_trust_roots.strip():
        # Like the development identity provider: in dev, with no roots configured, results signed by
        # `dvc dev-sign-result` are accepted, so the whole life of a dossier can be tried locally.
        from app.workflow import devsigner

        return _trust_roots(str(devsigner.ca_path(settings)))
    return _trust_roots(settings.signature_trust_roots)


def _unsigned(file_name: str, why: str) -> ProblemError:
    return ProblemError("result_not_signed", f"The result file {file_name!r} {why}.",
                        extra={"file_name": file_name})


async def verify_pdf(data: bytes, file_name: str) -> list[SignatureInfo]:
    """Every embedded signature, verified; 422 `result_not_signed` when there is none or one fails."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as error:  # pyHanko raises many kinds on malformed PDFs; all mean "not a signed PDF"
        raise _unsigned(file_name, "is not a readable PDF") from error
    if not embedded:
        raise _unsigned(file_name, "carries no digital signature")
    roots = await asyncio.to_thread(trust_roots)  # in dev, the first call makes the development CA
    if not roots:
        raise _unsigned(file_name, "cannot be checked: no trust roots are configured (DVC_SIGNATURE_TRUST_ROOTS)")
    found: list[SignatureInfo] = []
    for signature in embedded:
        context = ValidationContext(trust_roots=list(roots), allow_fetching=False, revocation_mode="soft-fail")
        try:
            status = await async_validate_pdf_signature(signature, context)
        except Exception as error:
            raise _unsigned(file_name, "has a signature that cannot be validated") from error
        if not (status.intact and status.valid):
            raise _unsigned(file_name, "has a broken signature (the file changed after signing)")
        if not status.trusted:
            raise _unsigned(file_name, "is signed by a certificate that does not chain to a trusted root")
        if status.coverage != SignatureCoverageLevel.ENTIRE_FILE and signature is embedded[-1]:
            raise _unsigned(file_name, "has content added after the last signature")
        cert = status.signing_cert
        signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else None
        found.append(SignatureInfo(signer=cert.subject.human_friendly, serial_number=str(cert.serial_number),
                                   issuer=cert.issuer.human_friendly, signed_at=signed_at))
    return found

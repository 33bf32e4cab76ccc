"""Digital signatures on the PDFs the service issues in an agency's name: notices (Circular 01/2018 forms 01-04 and
the others), fee receipts (biên lai) and the process control slip (form 05).

Decree 45/2020 wants the electronic documents of the one-stop process digitally signed, and an electronic fee
receipt is valid only signed by the unit that issues it. Each document gets one PAdES baseline B signature
(ETSI.CAdES.detached, SHA-256, the signer's certificate and its chain embedded; no timestamp, no revocation data:
the service has no outbound access to a TSA or the CAs). The signer is, first, the issuing agency's own key
(uploaded by a system administrator, PUT /v1/agencies/{code}/signing-key: app/catalogue/signing_keys.py, which
hands it to `issue_pdf`); else the deployment's key in `DVC_DOCUMENT_SIGNING_KEY_FILE` (PKCS#12, opened with
`DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE`; both checked at start). Without either, documents are issued unsigned, as
before, and start-up says so (a warning in prod) and /readyz shows `document_signing: off` (a summary of the
deployment key: agencies' keys are not listed there); in dev the development signer (app/workflow/devsigner.py,
whose CA dev trusts) signs instead, so a newcomer sees signed documents.

An agency's signer is loaded once per worker and kept under (agency code, key version): a new upload is a new
version, so a worker never signs with a replaced or removed key once the change is committed (the version is read
with each document; only the key material is cached).

Signing is CPU work (hashing the file, an RSA signature, encoding the CMS: tens of milliseconds) and pyHanko's
signer is synchronous underneath: it runs in a worker thread, with the rendering, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.utils import CryptographyDeprecationWarning

from app.core.settings import Settings, get_settings

with warnings.catch_warnings():
    # The same DSA import warning app/workflow/signatures.py silences.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, message=".*DSA.*")
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

log = logging.getLogger("app.pdfsign")

SIGNATURE_FIELD = "ChuKySoCoQuan"  # "the agency's digital signature"; no '.' allowed in a field name
EXPIRY_WARNING = timedelta(days=30)
Mode = Literal["on", "development", "off"]


class KeptKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner with its private key read once.

    SimpleSigner reads its key again for every raw signature, twice per document (sizing the signature container
    signs too), and reading an RSA key checks it: ~100 ms each, against ~1 ms for the signature itself. The
    common mechanisms (RSA PKCS#1 v1.5, ECDSA) sign with the key kept; any other goes through pyHanko as is."""

    _kept: PrivateKeyTypes | None = None

    @classmethod
    def keeping(cls, loaded: signers.SimpleSigner) -> KeptKeySigner:
        return cls(signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
                   cert_registry=loaded.cert_registry, signature_mechanism=loaded.signature_mechanism,
                   prefer_pss=loaded.prefer_pss, embed_roots=loaded.embed_roots)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        if self._kept is None:  # two threads may both read it: the same key either way
            self._kept = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        key, hash_algorithm = self._kept, get_pyca_cryptography_hash(digest_algorithm)
        try:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        except ValueError:  # a mechanism asn1crypto does not name: pyHanko's own path below
            mechanism = ""
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), hash_algorithm)
        if mechanism == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(hash_algorithm))
        return bytes(super().sign_raw(data, digest_algorithm))


def mode(settings: Settings) -> Mode:
    """Who signs: the configured key (`on`), the development signer (`development`, dev only) or nobody."""
    if settings.document_signing_key_file:
        return "on"
    return "development" if settings.dev_features else "off"


@lru_cache(maxsize=4)
def _configured_signer(path: str, passphrase: str) -> KeptKeySigner:
    # Keyed on the settings' values, so a test (or a settings reload) with another key gets that key.
    signer = signers.SimpleSigner.load_pkcs12(path, passphrase=passphrase.encode() or None)
    if signer is None:  # the settings opened it at start: only a file changed since then gets here
        raise RuntimeError(f"DVC_DOCUMENT_SIGNING_KEY_FILE: cannot load the signing key from {path}")
    return KeptKeySigner.keeping(signer)


_development_signers: dict[str, KeptKeySigner] = {}


def _development_signer(settings: Settings) -> KeptKeySigner:
    # The development CA lives with the result verifier that trusts it (lazy: only dev ever gets here). Two
    # threads loading it at once both get a working signer; one stays cached.
    from app.workflow import devsigner

    key = str(settings.var_dir)
    if key not in _development_signers:
        _development_signers[key] = KeptKeySigner.keeping(devsigner.load_signer(settings))
    return _development_signers[key]


def current_signer(settings: Settings) -> signers.SimpleSigner | None:
    """The signer for documents issued now (loaded once per key), or None: issue them unsigned."""
    match mode(settings):
        case "on":
            return _configured_signer(settings.document_signing_key_file,
                                      settings.document_signing_key_passphrase.get_secret_value())
        case "development":
            return _development_signer(settings)
    return None


AGENCY_SIGNERS_KEPT = 512  # a province's departments and communes, with room; the least recently used go first
_agency_signers: OrderedDict[tuple[str, int], KeptKeySigner] = OrderedDict()
_agency_signers_lock = threading.Lock()


def load_pkcs12(data: bytes, passphrase: bytes | None = None) -> KeptKeySigner:
    """A signer from PKCS#12 bytes (its certificate chain embedded in what it signs); ValueError when the data is
    not PKCS#12, the passphrase does not open it, or it holds no key or no certificate."""
    loaded = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase)
    if loaded is None or loaded.signing_cert is None:
        raise ValueError("the PKCS#12 data holds no certificate")
    return KeptKeySigner.keeping(loaded)


def kept_agency_signer(agency_code: str, key_version: int) -> KeptKeySigner | None:
    """The agency's signer for that version of its key, if this worker has loaded it already."""
    with _agency_signers_lock:
        signer = _agency_signers.get((agency_code, key_version))
        if signer is not None:
            _agency_signers.move_to_end((agency_code, key_version))
        return signer


def keep_agency_signer(agency_code: str, key_version: int, pkcs12_data: bytes) -> KeptKeySigner:
    """Load (blocking: run it in a worker thread) and keep the agency's signer for that version of its key; the
    agency's older versions are dropped with it."""
    signer = load_pkcs12(pkcs12_data)
    with _agency_signers_lock:
        for key in [k for k in _agency_signers if k[0] == agency_code]:
            del _agency_signers[key]
        _agency_signers[(agency_code, key_version)] = signer
        while len(_agency_signers) > AGENCY_SIGNERS_KEPT:
            _agency_signers.popitem(last=False)
    return signer


def forget_agency_signers() -> None:
    """Drop every kept agency signer (tests; a worker never needs to: versions tell replaced keys apart)."""
    with _agency_signers_lock:
        _agency_signers.clear()


def _metadata(agency_name: str) -> signers.PdfSignatureMetadata:
    issuer = agency_name.strip() or "cơ quan giải quyết thủ tục hành chính"
    return signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason=f"Văn bản điện tử do {issuer} phát hành", location=agency_name.strip() or None)


def sign_blocking(pdf: bytes, signer: signers.SimpleSigner, agency_name: str) -> bytes:
    """`pdf` with the signature appended as an incremental update (the rendered content is unchanged).

    Blocking (pyHanko's synchronous API runs its own short event loop): call it from a worker thread."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return bytes(signers.sign_pdf(writer, _metadata(agency_name), signer=signer).getvalue())


def _render_and_sign(render: Callable[[], bytes], agency_name: str, settings: Settings,
                     agency_signer: signers.SimpleSigner | None) -> bytes:
    pdf = render()
    signer = agency_signer or current_signer(settings)
    return pdf if signer is None else sign_blocking(pdf, signer, agency_name)


async def issue_pdf(render: Callable[[], bytes], *, agency_name: str,
                    agency_signer: signers.SimpleSigner | None = None) -> bytes:
    """Render a document (`render`: fpdf2, see app/core/pdf.py) and sign it in `agency_name`'s name, both in a
    worker thread: a request never blocks the event loop on either. Signed by `agency_signer` (the issuing
    agency's own key: app.catalogue.signing_keys.document_signer) when it has one, else as `current_signer` says;
    unsigned when nobody signs."""
    return await asyncio.to_thread(_render_and_sign, render, agency_name, get_settings(), agency_signer)


def announce(settings: Settings | None = None) -> Mode:
    """Say once at start who signs issued documents: a loud warning when nobody does outside dev and test."""
    settings = settings or get_settings()
    current = mode(settings)
    if current == "off":
        level = logging.WARNING if settings.env == "prod" else logging.INFO
        log.log(level, "issued documents (notices, fee receipts, process slips) are NOT digitally signed: set "
                       "DVC_DOCUMENT_SIGNING_KEY_FILE and DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE (Decree 45/2020)")
        return current
    signer = current_signer(settings)
    certificate = signer.signing_cert if signer is not None else None
    if certificate is None:  # load_pkcs12 always sets it; a guard for the type
        return current
    expires = certificate.not_valid_after
    left = expires - datetime.now(UTC)
    log.log(logging.WARNING if left < EXPIRY_WARNING else logging.INFO,
            "issued documents are signed by %s%s (certificate valid until %s%s)",
            certificate.subject.human_friendly, " (development signer)" if current == "development" else "",
            expires.date().isoformat(), ", EXPIRED" if left <= timedelta(0) else "")
    return current

"""The development result signer (DVC_ENV=dev only): a local CA, a signer it issued, and signed result PDFs.

`issue_result` accepts only a result PDF whose signature chains to a trusted root (Decree 45/2020), and a
newcomer has neither a signing certificate nor a signing tool. Like the development identity provider, this
exists only in `dev`: `dvc dev-sign-result` refuses elsewhere, and the verifier trusts this CA only in `dev`
with no `DVC_SIGNATURE_TRUST_ROOTS` set.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from app.core.settings import Settings

with warnings.catch_warnings():
    # The same DSA import warning app/workflow/signatures.py silences.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, message=".*DSA.*")
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "signer.pem", "signer.key"
VALID_FOR = timedelta(days=3650)


def _directory(settings: Settings) -> Path:
    return Path(settings.var_dir) / "dev-signer"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dvc-service development"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signer, content_commitment=signer, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signer,
                         crl_sign=not signer, encipher_only=False, decipher_only=False)


def _write_pki(directory: Path) -> None:
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(_name("DVC Development Root CA"))
          .issuer_name(_name("DVC Development Root CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + VALID_FOR)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(signer=False), critical=True).sign(ca_key, hashes.SHA256()))
    signer = (x509.CertificateBuilder().subject_name(_name("Người ký thử nghiệm")).issuer_name(ca.subject)
              .public_key(signer_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - timedelta(days=1)).not_valid_after(now + VALID_FOR)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(_key_usage(signer=True), critical=True).sign(ca_key, hashes.SHA256()))
    (directory / CA_FILE).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / CERT_FILE).write_bytes(signer.public_bytes(serialization.Encoding.PEM))
    key_fd = os.open(directory / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(key_fd, "wb") as handle:
        handle.write(signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))


def ensure_pki(settings: Settings) -> Path:
    """The directory holding the dev CA, signer certificate and key, made on first use (owner-readable only)."""
    directory = _directory(settings)
    if (directory / CA_FILE).is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dev-signer-", dir=directory.parent))
    try:
        _write_pki(staging)
        # Atomic: the server (verifying) and the command (signing) may both make it first; one CA wins.
        os.rename(staging, directory)
    except OSError:
        if not (directory / CA_FILE).is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def ca_path(settings: Settings) -> Path:
    return ensure_pki(settings) / CA_FILE


def load_signer(settings: Settings) -> signers.SimpleSigner:
    """The development signer (made on first use); it also signs issued documents in dev (app/core/pdfsign.py)."""
    directory = ensure_pki(settings)
    signer = signers.SimpleSigner.load(str(directory / KEY_FILE), str(directory / CERT_FILE),
                                       ca_chain_files=(str(directory / CA_FILE),))
    if signer is None:
        raise RuntimeError(f"cannot load the development signer from {directory}")
    return signer


async def sign_pdf(settings: Settings, pdf: bytes) -> bytes:
    """`pdf` with a signature by the dev signer appended (an incremental update: the content is unchanged)."""
    signer = load_signer(settings)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = await signers.async_sign_pdf(writer, signers.PdfSignatureMetadata(field_name="ChuKySo"), signer=signer)
    return bytes(out.getvalue())

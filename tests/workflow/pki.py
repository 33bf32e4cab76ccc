"""A throwaway CA and signer for signed-result tests: certificates made with `cryptography`, PDFs signed by pyHanko."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from app.workflow.signatures import SignatureInfo


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sở Khoa học và Công nghệ"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Pki:
    ca_path: Path
    signer: signers.SimpleSigner

    async def sign(self, pdf: bytes) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        meta = signers.PdfSignatureMetadata(field_name="ChuKySo")
        out = await signers.async_sign_pdf(writer, meta, signer=self.signer)
        return bytes(out.getvalue())


def make_pki(directory: Path, signer_name: str = "Nguyễn Văn Duyệt") -> Pki:
    now = datetime.now(UTC)
    ca_key, signer_key = _key(), _key()
    ca_cert = (x509.CertificateBuilder().subject_name(_name("Test Root CA")).issuer_name(_name("Test Root CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=True, crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    signer_cert = (x509.CertificateBuilder().subject_name(_name(signer_name)).issuer_name(ca_cert.subject)
                   .public_key(signer_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "signer.pem", directory / "signer.key"
    ca_path.write_bytes(_pem(ca_cert))
    cert_path.write_bytes(_pem(signer_cert))
    key_path.write_bytes(signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    signer = signers.SimpleSigner.load(str(key_path), str(cert_path), ca_chain_files=(str(ca_path),))
    assert signer is not None
    return Pki(ca_path=ca_path, signer=signer)


def write_pkcs12(pki: Pki, passphrase: str) -> Path:
    """The signer's key, certificate and CA as one PKCS#12 file (what DVC_DOCUMENT_SIGNING_KEY_FILE takes)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    directory = pki.ca_path.parent
    key = serialization.load_pem_private_key((directory / "signer.key").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate((directory / "signer.pem").read_bytes())
    ca = x509.load_pem_x509_certificate(pki.ca_path.read_bytes())
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    path = directory / "signer.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"signer", key, cert, [ca], encryption))
    return path


PASSPHRASE = "mật khẩu ký số"  # non-ASCII on purpose: the setting is UTF-8 encoded before opening the file


def configure_document_signing(settings_env: Callable[..., None], directory: Path,
                               signer_name: str = "Sở Thử Nghiệm Ký Số") -> Pki:
    """A fresh CA and signer, the signer as DVC_DOCUMENT_SIGNING_KEY_FILE, the CA as the verifier's trust root."""
    pki = make_pki(directory, signer_name)
    settings_env(DVC_DOCUMENT_SIGNING_KEY_FILE=str(write_pkcs12(pki, PASSPHRASE)),
                 DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE=PASSPHRASE, DVC_SIGNATURE_TRUST_ROOTS=str(pki.ca_path))
    return pki


def signing_key_upload(directory: Path, signer_name: str, passphrase: str = PASSPHRASE) -> tuple[Pki, dict[str, str]]:
    """A fresh CA and signer in `directory`, and the body of PUT /v1/agencies/{code}/signing-key uploading it."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = make_pki(directory, signer_name)
    data = write_pkcs12(pki, passphrase).read_bytes()
    return pki, {"pkcs12": base64.b64encode(data).decode(), "passphrase": passphrase}


async def issued_signature(pdf: bytes, trust_root: Path) -> SignatureInfo:
    """The one signature on an issued document, checked: intact, chained to `trust_root`, covering the whole file
    (through the service's own result verifier, app/workflow/signatures.py, and again here directly), a PAdES
    signature (ETSI.CAdES.detached with the signing-certificate-v2 attribute) in the issuing agency's field."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from app.core.pdfsign import SIGNATURE_FIELD
    from app.workflow.signatures import verify_pdf

    [info] = await verify_pdf(pdf, "issued.pdf")
    [embedded] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(trust_root))], allow_fetching=False)
    status = await async_validate_pdf_signature(embedded, context)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert embedded.field_name == SIGNATURE_FIELD
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert "signing_certificate_v2" in [attr["type"].native for attr in embedded.signer_info["signed_attrs"]]
    return info


def reason(pdf: bytes) -> str:
    from pyhanko.pdf_utils.reader import PdfFileReader

    [embedded] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return str(embedded.sig_object["/Reason"])


def signature_count(pdf: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return len(PdfFileReader(io.BytesIO(pdf)).embedded_signatures)

"""An agency's own signing key: uploaded, read, replaced and removed by system administrators only, with If-Match;
a bad upload is a 422 that says what is wrong with it; the key is stored encrypted, never shown, and every upload
and removal stays on record."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import select, text

from app.catalogue import signing_keys
from app.catalogue.models import AgencySigningKey
from app.core import pdfsign, secrets
from app.core.db import get_database
from app.core.secrets import FERNET_PREFIX
from app.core.settings import DEV_SECRETS_KEY
from tests.support.catalogue_fixtures import Catalogue
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import Accounts, Actor
from tests.workflow.pki import PASSPHRASE, signing_key_upload

URL = "/v1/agencies/A1/signing-key"


def _with(actor: Actor, if_match: str | None = None) -> dict[str, str]:
    return {**actor.headers, **({"If-Match": if_match} if if_match is not None else {})}


def _self_signed(*, days_left: int, with_key: bool = True, with_cert: bool = True, passphrase: str = "pw") -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sở Hết Hạn")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=400))
            .not_valid_after(now + timedelta(days=days_left)).sign(key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(
        b"x", key if with_key else None, cert if with_cert else None, None,
        serialization.BestAvailableEncryption(passphrase.encode()))
    return base64.b64encode(data).decode()


async def test_upload_read_replace_delete(client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue,
                                          tmp_path: Path) -> None:
    await catalogue.agency("A1")
    admin = await accounts.admin()
    expect_problem(await client.get(URL, headers=admin.headers), 404, "not_found")

    first_pki, first = signing_key_upload(tmp_path / "first", "Sở Tư pháp Thử Nghiệm")
    uploaded = await client.put(URL, headers=admin.headers, json=first)
    assert uploaded.status_code == 200, uploaded.text
    shown = uploaded.json()
    assert "Sở Tư pháp Thử Nghiệm" in shown["subject"] and "Test Root CA" in shown["issuer"]
    assert shown["agency_code"] == "A1" and len(shown["fingerprint_sha256"]) == 64
    assert datetime.fromisoformat(shown["not_after"]) > datetime.now(UTC)
    assert not {"pkcs12", "passphrase", "key"} & set(shown)
    read = await client.get(URL, headers=admin.headers)
    assert read.status_code == 200 and read.json() == shown and read.headers["etag"] == uploaded.headers["etag"]

    # Replacing takes the current ETag.
    _, second = signing_key_upload(tmp_path / "second", "Sở Tư pháp Khóa Mới")
    expect_problem(await client.put(URL, headers=admin.headers, json=second), 428, "precondition_required")
    expect_problem(await client.put(URL, headers=_with(admin, '"999"'), json=second), 412, "precondition_failed")
    replaced = await client.put(URL, headers=_with(admin, uploaded.headers["etag"]), json=second)
    assert replaced.status_code == 200, replaced.text
    assert "Khóa Mới" in replaced.json()["subject"] and replaced.headers["etag"] != uploaded.headers["etag"]
    assert replaced.json()["fingerprint_sha256"] != shown["fingerprint_sha256"]

    # Removing too; then there is none.
    expect_problem(await client.delete(URL, headers=admin.headers), 428, "precondition_required")
    expect_problem(await client.delete(URL, headers=_with(admin, uploaded.headers["etag"])), 412,
                   "precondition_failed")
    removed = await client.delete(URL, headers=_with(admin, replaced.headers["etag"]))
    assert removed.status_code == 204, removed.text
    expect_problem(await client.get(URL, headers=admin.headers), 404, "not_found")
    expect_problem(await client.delete(URL, headers=_with(admin, "*")), 404, "not_found")

    # On record: who uploaded and removed which key, when; key material only for a key in force (none now).
    async with get_database().read_sessions() as session:
        rows = (await session.scalars(select(AgencySigningKey).order_by(AgencySigningKey.id))).all()
    assert [(r.uploaded_by, r.removed_by is not None, r.pkcs12) for r in rows] == [
        (admin.id, True, None), (admin.id, True, None)]
    assert rows[0].removed_by == rows[1].removed_by == admin.id
    assert rows[0].fingerprint_sha256 == shown["fingerprint_sha256"] and first_pki.ca_path.exists()


async def test_the_key_is_stored_encrypted_without_its_passphrase(client: httpx.AsyncClient, accounts: Accounts,
                                                                 catalogue: Catalogue, tmp_path: Path) -> None:
    await catalogue.agency("A1")
    admin = await accounts.admin()
    _, body = signing_key_upload(tmp_path, "Sở Mã Hóa")
    assert (await client.put(URL, headers=admin.headers, json=body)).status_code == 200
    async with get_database().read_sessions() as session:
        raw = (await session.execute(text("SELECT pkcs12 FROM agency_signing_keys"))).scalar_one()
        stored = (await session.scalars(select(AgencySigningKey))).one().pkcs12
    assert raw.startswith(FERNET_PREFIX) and body["pkcs12"] not in raw and PASSPHRASE not in raw
    assert stored is not None
    # What the service keeps opens without a passphrase (so none is stored) and holds the key and certificate.
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(stored), None)
    assert key is not None and cert is not None


async def test_bad_uploads_say_what_is_wrong(client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue,
                                             tmp_path: Path) -> None:
    await catalogue.agency("A1")
    admin = await accounts.admin()
    _, good = signing_key_upload(tmp_path, "Sở Thử Nghiệm")
    cases = [
        ({**good, "passphrase": "not the passphrase"}, "signing_key_unreadable"),
        ({**good, "pkcs12": base64.b64encode(b"%PDF-1.7 not a key").decode()}, "signing_key_unreadable"),
        ({"pkcs12": _self_signed(days_left=-1), "passphrase": "pw"}, "signing_certificate_expired"),
        ({"pkcs12": _self_signed(days_left=30, with_cert=False), "passphrase": "pw"}, "signing_key_incomplete"),
        ({"pkcs12": _self_signed(days_left=30, with_key=False), "passphrase": "pw"}, "signing_key_incomplete"),
        ({**good, "pkcs12": "not base64!"}, "validation_error"),
    ]
    for body, code in cases:
        problem = expect_problem(await client.put(URL, headers=admin.headers, json=body), 422, code)
        assert PASSPHRASE not in str(problem) and body["passphrase"] not in str(problem)
    expect_problem(await client.get(URL, headers=admin.headers), 404, "not_found")
    # A valid key that expires soon is accepted (start-up and /readyz say nothing of agencies' keys).
    soon = await client.put(URL, headers=admin.headers, json={"pkcs12": _self_signed(days_left=3), "passphrase": "pw"})
    assert soon.status_code == 200, soon.text


async def test_only_system_administrators(client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue,
                                          tmp_path: Path) -> None:
    await catalogue.agency("A1")
    admin = await accounts.admin()
    agency_admin = await accounts.official("A1", ["agency_admin"])
    _, body = signing_key_upload(tmp_path, "Sở Thử Nghiệm")
    expect_problem(await client.put(URL, headers=agency_admin.headers, json=body), 403, "forbidden_role")
    created = await client.put(URL, headers=admin.headers, json=body)
    assert created.status_code == 200
    expect_problem(await client.get(URL, headers=agency_admin.headers), 403, "forbidden_role")
    expect_problem(await client.delete(URL, headers=_with(agency_admin, created.headers["etag"])), 403,
                   "forbidden_role")
    assert (await client.get(URL)).status_code == 401
    expect_problem(await client.put("/v1/agencies/NOPE/signing-key", headers=admin.headers, json=body), 404,
                   "not_found")
    assert (await client.get(URL, headers=admin.headers)).status_code == 200


async def test_secrets_rotation_covers_signing_keys(client: httpx.AsyncClient, accounts: Accounts,
                                                    catalogue: Catalogue, settings_env, tmp_path: Path) -> None:
    """`dvc secrets rotate` re-encrypts the agency's key: it still signs once the old secrets key is dropped."""
    await catalogue.agency("A1")
    admin = await accounts.admin()
    _, body = signing_key_upload(tmp_path, "Sở Xoay Khóa")
    assert (await client.put(URL, headers=admin.headers, json=body)).status_code == 200
    new_key = Fernet.generate_key().decode()
    settings_env(DVC_SECRETS_KEYS=f"{new_key},{DEV_SECRETS_KEY}")
    assert await secrets.rotate_all() == 1
    settings_env(DVC_SECRETS_KEYS=new_key)
    pdfsign.forget_agency_signers()
    async with get_database().read_sessions() as session:
        signer = await signing_keys.document_signer(session, "A1")
    assert signer is not None and "Sở Xoay Khóa" in signer.signing_cert.subject.human_friendly

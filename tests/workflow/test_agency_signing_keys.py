"""Documents are signed with the issuing agency's own key when it has one (uploaded by a system administrator),
with the deployment's key otherwise; a replaced or removed agency key signs nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.core import clock, pdfsign
from tests.support.identity_fixtures import DEFAULT_AGENCY
from tests.workflow.pki import configure_document_signing, issued_signature, signing_key_upload
from tests.workflow.test_signed_documents import PDF, _notice_pdf, _one_stop_notices

OTHER_AGENCY = "000.00.99.H01"
KEY_URL = f"/v1/agencies/{DEFAULT_AGENCY}/signing-key"


async def _slip(flow: Any, actor: Any, dossier_id: str) -> bytes:
    response = await flow.client.get(f"/v1/dossiers/{dossier_id}/steps", headers={**actor.headers, **PDF})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf", response.text
    return bytes(response.content)


async def test_each_agency_signs_with_its_own_key_else_the_deployments(client, flow, settings_env, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deployment").mkdir()
    deployment = configure_document_signing(settings_env, tmp_path / "deployment", signer_name="Khóa Triển Khai")
    own, upload = signing_key_upload(tmp_path / "own", "Sở Có Khóa Riêng")
    renewed, renewal = signing_key_upload(tmp_path / "renewed", "Sở Có Khóa Gia Hạn")
    settings_env(DVC_SIGNATURE_TRUST_ROOTS=f"{deployment.ca_path},{own.ca_path},{renewed.ca_path}")
    admin = await flow.accounts.admin()
    uploaded = await client.put(KEY_URL, headers=admin.headers, json=upload)  # before the tests' clock goes back
    assert uploaded.status_code == 200, uploaded.text
    citizen, forms = await _one_stop_notices(flow, monkeypatch)  # the default agency's dossiers
    other_code = await flow.procedure(OTHER_AGENCY)
    other_citizen, other = await flow.submitted(other_code)

    # Forms 01-04 and the slip of the agency with a key: its key, chained to its CA.
    for form, (dossier_id, kind) in forms.items():
        pdf, _agency = await _notice_pdf(flow, citizen, dossier_id, kind)
        assert "Sở Có Khóa Riêng" in (await issued_signature(pdf, own.ca_path)).signer, form
    slip = await _slip(flow, citizen, forms["01"][0])
    assert "Sở Có Khóa Riêng" in (await issued_signature(slip, own.ca_path)).signer
    # Another agency's documents: the deployment's key.
    other_slip = await _slip(flow, other_citizen, other["id"])
    assert "Khóa Triển Khai" in (await issued_signature(other_slip, deployment.ca_path)).signer

    # Replaced: the next document is signed with the new key, though this worker had loaded the old one.
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))  # the renewed certificate is valid from now on
    replaced = await client.put(KEY_URL, headers={**admin.headers, "If-Match": uploaded.headers["etag"]}, json=renewal)
    assert replaced.status_code == 200, replaced.text
    pdf, _agency = await _notice_pdf(flow, citizen, *forms["01"])
    assert "Sở Có Khóa Gia Hạn" in (await issued_signature(pdf, renewed.ca_path)).signer
    # Removed: back to the deployment's key.
    removed = await client.delete(KEY_URL, headers={**admin.headers, "If-Match": replaced.headers["etag"]})
    assert removed.status_code == 204
    pdf, _agency = await _notice_pdf(flow, citizen, *forms["01"])
    assert "Khóa Triển Khai" in (await issued_signature(pdf, deployment.ca_path)).signer


async def test_an_agency_key_without_a_deployment_key(client, flow, settings_env, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The agency's key signs even where the deployment has none; a worker loads it once per version."""
    own, upload = signing_key_upload(tmp_path / "own", "Sở Chỉ Có Khóa Riêng")
    settings_env(DVC_SIGNATURE_TRUST_ROOTS=str(own.ca_path))
    admin = await flow.accounts.admin()
    assert (await client.put(KEY_URL, headers=admin.headers, json=upload)).status_code == 200
    citizen, forms = await _one_stop_notices(flow, monkeypatch)
    loads: list[str] = []
    keep = pdfsign.keep_agency_signer

    def counted(agency_code: str, version: int, data: bytes) -> pdfsign.KeptKeySigner:
        loads.append(agency_code)
        return keep(agency_code, version, data)

    monkeypatch.setattr(pdfsign, "keep_agency_signer", counted)
    for dossier_id, kind in forms.values():
        pdf, _agency = await _notice_pdf(flow, citizen, dossier_id, kind)
        assert "Sở Chỉ Có Khóa Riêng" in (await issued_signature(pdf, own.ca_path)).signer
    assert loads == [DEFAULT_AGENCY]
    assert (await client.get("/readyz")).json()["document_signing"] == "off"  # the deployment's key: a summary

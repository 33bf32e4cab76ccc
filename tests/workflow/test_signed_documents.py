"""Documents issued in the agency's name are digitally signed (Decree 45/2020): the one-stop notices (Circular
01/2018 forms 01 receipt, 02 supplement request, 03 refusal, 04 apology) and the process control slip (form 05),
fetched as PDF through the API, carry one PAdES signature by the configured key that chains to its CA and covers
the whole file. Signing runs in a worker thread, never on the event loop. Without a key: unsigned, as before
(dev: the development signer)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from app.core import pdfsign
from app.core.problems import ProblemError
from app.workflow.signatures import verify_pdf
from tests.workflow.pki import configure_document_signing, issued_signature, reason, signature_count
from tests.workflow.test_supplement_and_endings import set_clock

PDF = {"Accept": "application/pdf"}


async def _notice_pdf(flow: Any, actor: Any, dossier_id: str, kind: str) -> tuple[bytes, str]:
    [notice] = [n for n in await flow.notices(actor, dossier_id) if n["kind"] == kind]
    response = await flow.client.get(f"/v1/dossiers/{dossier_id}/notices/{notice['id']}",
                                     headers={**actor.headers, **PDF})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf", response.text
    return response.content, notice["content"]["agency_name"]


async def _one_stop_notices(flow: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, tuple[str, str]]]:
    """Forms 01-04 issued: {form: (dossier id, notice kind)}, and the applicant who may read them."""
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    code = await flow.procedure(processing_days=2)
    citizen, late = await flow.submitted(code)
    _, incomplete = await flow.submitted(code, citizen)
    _, refused = await flow.submitted(code, citizen)
    for dossier in (late, incomplete):
        await flow.to_processing(dossier["id"])
    await flow.act(flow.processing, incomplete["id"], "request_supplement", items=["Bản sao giấy phép"])
    await flow.act(flow.reception, refused["id"], "reject", reason="Hồ sơ không thuộc thẩm quyền")
    set_clock(monkeypatch, 2025, 3, 4, 16, 0)  # Tuesday, before the apology's deadline
    await flow.act(flow.processing, late["id"], "apologise", new_due_date="2025-03-10", reason="Cần xác minh thêm")
    return citizen, {"01": (late["id"], "receipt"), "02": (incomplete["id"], "supplement_request"),
                     "03": (refused["id"], "refusal"), "04": (late["id"], "apology")}


async def test_notices_and_the_slip_are_signed_in_the_agencys_name(client, flow, settings_env, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pki = configure_document_signing(settings_env, tmp_path)
    loop_thread, signing_threads = threading.get_ident(), []
    sign = pdfsign.sign_blocking

    def watched(*args: Any) -> bytes:
        signing_threads.append(threading.get_ident())
        with pytest.raises(RuntimeError):  # no event loop runs in this thread: the signing blocks no request
            asyncio.get_running_loop()
        return sign(*args)

    monkeypatch.setattr(pdfsign, "sign_blocking", watched)
    citizen, forms = await _one_stop_notices(flow, monkeypatch)
    for form, (dossier_id, kind) in forms.items():
        pdf, agency = await _notice_pdf(flow, citizen, dossier_id, kind)
        info = await issued_signature(pdf, pki.ca_path)
        assert "Sở Thử Nghiệm Ký Số" in info.signer, form
        assert agency and reason(pdf) == f"Văn bản điện tử do {agency} phát hành", form

    slip = await client.get(f"/v1/dossiers/{forms['04'][0]}/steps", headers={**citizen.headers, **PDF})
    assert slip.status_code == 200, slip.text
    assert "Test Root CA" in (await issued_signature(slip.content, pki.ca_path)).issuer
    assert len(signing_threads) == 5 and loop_thread not in signing_threads

    # A document changed after issue no longer verifies.
    pdf, _agency = await _notice_pdf(flow, citizen, forms["01"][0], "receipt")
    tampered = pdf.replace(b"/Producer", b"/Producex", 1)
    assert tampered != pdf
    with pytest.raises(ProblemError):
        await verify_pdf(tampered, "tampered.pdf")


async def test_without_a_key_documents_are_issued_unsigned(client, flow, settings_env, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["document_signing"] == "off"
    citizen, forms = await _one_stop_notices(flow, monkeypatch)
    pdf, _agency = await _notice_pdf(flow, citizen, *forms["01"])
    assert pdf.startswith(b"%PDF") and signature_count(pdf) == 0
    with pytest.raises(ProblemError) as caught:
        await verify_pdf(pdf, "receipt.pdf")
    assert caught.value.code == "result_not_signed"
    slip = await client.get(f"/v1/dossiers/{forms['01'][0]}/steps", headers={**citizen.headers, **PDF})
    assert slip.status_code == 200 and signature_count(slip.content) == 0

    configure_document_signing(settings_env, tmp_path)
    assert (await client.get("/readyz")).json()["document_signing"] == "on"


async def test_dev_signs_with_the_development_signer(client, flow, settings_env, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    citizen, forms = await _one_stop_notices(flow, monkeypatch)
    settings_env(DVC_ENV="dev", DVC_VAR_DIR=str(tmp_path / "var"), DVC_SIGNATURE_TRUST_ROOTS="",
                 DVC_DOCUMENT_SIGNING_KEY_FILE="", DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE="")
    assert (await client.get("/readyz")).json()["document_signing"] == "development"
    pdf, _agency = await _notice_pdf(flow, citizen, *forms["03"])
    info = await issued_signature(pdf, tmp_path / "var" / "dev-signer" / "ca.pem")  # dev trusts its own CA
    assert info.issuer.startswith("Common Name: DVC Development Root CA")

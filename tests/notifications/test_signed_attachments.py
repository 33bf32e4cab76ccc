"""The notice attached to an email is the signed document the API serves (app.core.pdfsign): the worker renders and
signs it with the same key, in the issuing agency's name."""

from __future__ import annotations

from pathlib import Path

from tests.notifications.conftest import deliver
from tests.workflow.pki import configure_document_signing, issued_signature, reason


async def test_the_emailed_receipt_notice_is_signed(flow, accounts, mail, settings_env, tmp_path: Path) -> None:
    pki = configure_document_signing(settings_env, tmp_path)
    code = await flow.procedure()
    citizen = await accounts.citizen(email="ky-so@example.vn")
    _, dossier = await flow.submitted(code, citizen)
    await flow.act(flow.reception, dossier["id"], "receive")
    await deliver()
    [attached] = [part.get_content() for message in mail.messages for part in message.iter_attachments()
                  if part.get_content_type() == "application/pdf"]
    assert "Sở Thử Nghiệm Ký Số" in (await issued_signature(attached, pki.ca_path)).signer
    [notice] = [n for n in await flow.notices(citizen, dossier["id"]) if n["kind"] == "receipt"]
    assert reason(attached) == f"Văn bản điện tử do {notice['content']['agency_name']} phát hành"

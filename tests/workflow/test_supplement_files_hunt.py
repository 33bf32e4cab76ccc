"""Which files a supplement hands in: the ones its `supplement` action names, not every upload made while it was
requested. The receipt (form 01) lists the documents received; a file uploaded by mistake and left out of the
answer (uploads cannot be deleted once the dossier is filed) was never handed in, and listing it told the applicant
and the agency that it was."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dossier_fixtures import PDF


async def _upload(flow: Any, actor: Any, dossier_id: str, name: str, content: bytes) -> str:
    response = await flow.client.post(f"/v1/dossiers/{dossier_id}/attachments", headers=actor.headers,
                                      data={"part": "application_form"},
                                      files={"file": (name, content, "application/pdf")})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _receipts(flow: Any, citizen: Any, dossier_id: str) -> list[list[str]]:
    return [[d["file_name"] for d in n["content"]["documents"]]
            for n in await flow.notices(citizen, dossier_id) if n["kind"] == "receipt"]


async def test_the_receipt_lists_the_supplement_files_sent_not_every_upload(flow):
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "request_supplement", items=["Đơn đề nghị có chữ ký"])
    await _upload(flow, citizen, did, "nham.pdf", PDF + b"% wrong file\n")
    sent = await _upload(flow, citizen, did, "don-co-chu-ky.pdf", PDF + b"% signed\n")
    await flow.act(citizen, did, "supplement", attachments=[sent])
    await flow.act(flow.reception, did, "receive")
    assert await _receipts(flow, citizen, did) == [["don.pdf", "don-co-chu-ky.pdf"]]  # was with nham.pdf


@pytest.mark.parametrize("rounds", [1, 2])
async def test_a_restarted_clock_receipt_lists_what_each_supplement_sent(flow, rounds):
    code = await flow.procedure(processing_days=5, clock_on_supplement="restart")
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "receive")
    expected = ["don.pdf"]
    for n in range(rounds):
        await flow.act(flow.reception, did, "request_supplement", items=["Bản sao giấy phép"])
        await _upload(flow, citizen, did, f"nham-{n}.pdf", PDF + f"% wrong {n}\n".encode())
        sent = await _upload(flow, citizen, did, f"ban-sao-{n}.pdf", PDF + f"% copy {n}\n".encode())
        await flow.act(citizen, did, "supplement", attachments=[sent])  # restart: a new receipt now
        expected.append(f"ban-sao-{n}.pdf")
    receipts = await _receipts(flow, citizen, did)
    assert len(receipts) == rounds + 1 and receipts[-1] == expected

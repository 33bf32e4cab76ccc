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


async def test_reception_records_a_supplement_handed_in_at_the_desk(flow):
    # A desk dossier for someone without an account: only "the applicant" could supplement it, so once a supplement
    # was requested it could never leave supplement_requested (nor be withdrawn, refused or stopped).
    code = await flow.procedure(processing_days=5)
    created = await flow.client.post("/v1/dossiers/intake", headers=flow.reception.headers, json={
        "procedure_code": code, "channel": "desk", "delivery": {"method": "desk"},
        "applicant": {"citizen_id": "042099001234", "name": "Bà Nguyễn Thị Bưu"}})
    assert created.status_code == 201, created.text
    did = created.json()["id"]
    await _upload(flow, flow.reception, did, "don.pdf", PDF)
    filed = await flow.client.post(f"/v1/dossiers/{did}/submit", headers=flow.reception.headers)
    assert filed.status_code == 200, filed.text
    await flow.act(flow.reception, did, "receive")
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    assert (await flow.get(flow.reception, did))["next_actions"] == ["supplement", "withdraw_on_request"]
    handed_in = await _upload(flow, flow.reception, did, "ban-sao.pdf", PDF + b"% copy\n")
    back = await flow.act(flow.reception, did, "supplement", attachments=[handed_in])
    assert back["state"] == "received" and back["paused_working_days"] >= 0
    entry = (await flow.history(flow.reception, did))[-1]
    assert entry["action"] == "supplement" and entry["actor"]["id"] == str(flow.reception.id)
    assert entry["details"]["attachments"] == [handed_in]
    again = await flow.post(flow.processing, did, "request_supplement", items=["Bản chính để đối chiếu"])
    assert again.status_code == 200, again.text  # only reception records the answer, not processing
    assert (await flow.post(flow.processing, did, "supplement", attachments=[handed_in])).status_code == 403

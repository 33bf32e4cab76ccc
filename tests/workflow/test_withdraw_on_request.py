"""An applicant who filed at the desk or by post asks in writing to withdraw: reception records it
(`withdraw_on_request`, with a reason). Such an applicant often has no account, so before this nobody could
withdraw the dossier. Never an online dossier: its applicant withdraws it, and an official who could would be able
to take an overdue dossier off the public late list."""

from __future__ import annotations

from typing import Any

from tests.support.dossier_fixtures import PDF


async def _desk_dossier(flow: Any, code: str) -> str:
    created = await flow.client.post("/v1/dossiers/intake", headers=flow.reception.headers, json={
        "procedure_code": code, "channel": "post", "delivery": {"method": "desk"},
        "applicant": {"citizen_id": "042099004321", "name": "Ông Lê Văn Gửi"}})
    assert created.status_code == 201, created.text
    did = str(created.json()["id"])
    uploaded = await flow.client.post(f"/v1/dossiers/{did}/attachments", headers=flow.reception.headers,
                                      data={"part": "application_form"},
                                      files={"file": ("don.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    filed = await flow.client.post(f"/v1/dossiers/{did}/submit", headers=flow.reception.headers)
    assert filed.status_code == 200, filed.text
    return did


async def test_reception_records_the_withdrawal_a_desk_applicant_asked_for(flow):
    code = await flow.procedure(processing_days=5)
    did = await _desk_dossier(flow, code)
    await flow.act(flow.reception, did, "receive")
    assert "withdraw_on_request" in (await flow.get(flow.reception, did))["next_actions"]
    assert (await flow.post(flow.reception, did, "withdraw_on_request")).status_code == 422  # the reason is required
    done = await flow.act(flow.reception, did, "withdraw_on_request",
                          reason="Đơn xin rút hồ sơ số 12/ĐRHS ngày 07/12/2026")
    assert (done["state"], done["national_status_code"]) == ("withdrawn", 7)
    assert done["finished_at"] is not None
    entry = (await flow.history(flow.reception, did))[-1]
    assert (entry["action"], entry["to"], entry["actor"]["id"]) == ("withdraw_on_request", "withdrawn",
                                                                    str(flow.reception.id))
    assert entry["reason"].startswith("Đơn xin rút hồ sơ")


async def test_an_online_dossier_is_withdrawn_only_by_its_applicant(flow):
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "receive")
    assert "withdraw_on_request" not in (await flow.get(flow.reception, did))["next_actions"]
    refused = await flow.post(flow.reception, did, "withdraw_on_request", reason="Công dân gọi điện xin rút")
    assert refused.status_code == 409 and refused.json()["code"] == "transition_not_allowed", refused.text
    assert (await flow.act(citizen, did, "withdraw"))["state"] == "withdrawn"


async def test_only_reception_records_it(flow):
    code = await flow.procedure(processing_days=5)
    did = await _desk_dossier(flow, code)
    refused = await flow.post(flow.processing, did, "withdraw_on_request", reason="Đơn xin rút hồ sơ")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden_role", refused.text

"""An apology after its deadline (Resolution 131/NQ-CP: every late dossier gets a written explanation and an
apology): taken, with a new date after today, recorded as late in the history and both notices; the dossier stays
late against its original due date in the reports. The applicant's history does not name the internal
explanation notice."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from app.reporting.cache import public_cache
from tests.support.identity_fixtures import DEFAULT_AGENCY
from tests.workflow.test_supplement_and_endings import at_local, local, set_clock

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


async def _late_list(client: Any) -> tuple[int, int, int, int]:
    public_cache.clear()  # the list is cached briefly
    response = await client.get("/v1/public/late-dossiers", params=MARCH)
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    return item["handled"], item["finished_late"], item["still_overdue"], item["apologised"]


async def _pdf_text(client: Any, actor: Any, dossier_id: str, notice_id: str) -> str:
    pdf = await client.get(f"/v1/dossiers/{dossier_id}/notices/{notice_id}",
                           headers={**actor.headers, "Accept": "application/pdf"})
    assert pdf.status_code == 200, pdf.text
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)


async def test_a_late_dossier_gets_its_apology_recorded_as_late_and_stays_late(client, flow, accounts, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=2)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    await flow.to_processing(did)  # due Wednesday 5 March, 17:00; the apology was due by Tuesday 17:00

    set_clock(monkeypatch, 2025, 3, 7, 10, 0)  # Friday: overdue, no apology yet
    view = await flow.get(flow.processing, did)
    assert view["overdue"] is True and "apologise" in view["next_actions"]
    assert await _late_list(client) == (1, 0, 1, 0)
    # The new date must still lie ahead: after the (past) due date is not enough, and a working day.
    today = await flow.post(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2025-03-07")
    assert today.status_code == 422 and "after today 2025-03-07" in today.json()["errors"][0]["msg"]
    saturday = await flow.post(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2025-03-08")
    assert saturday.status_code == 422 and "not a working day" in saturday.json()["errors"][0]["msg"]
    too_far = await flow.post(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2026-03-10")
    assert too_far.status_code == 422 and "after today" in too_far.json()["errors"][0]["msg"]
    no_reason = await flow.post(flow.processing, did, "apologise", new_due_date="2025-03-12")
    assert no_reason.status_code == 422
    apologised = await flow.act(flow.processing, did, "apologise", reason="Chờ ý kiến của Sở Y tế",
                                new_due_date="2025-03-12")
    assert at_local(apologised["due_at"]) == local(2025, 3, 12, 17, 0)
    assert at_local(apologised["original_due_at"]) == local(2025, 3, 5, 17, 0)  # what lateness is measured by

    official_entry = (await flow.history(flow.processing, did))[-1]
    details = official_entry["details"]
    assert (details["late"], details["apology_deadline"]) == (True, "2025-03-04T10:00:00.000000Z")
    assert details["original_due_at"] == details["previous_due_at"] == "2025-03-05T10:00:00.000000Z"
    kinds = [n["kind"] for n in details["notices"]]
    assert kinds == ["explanation", "apology"]
    apology = next(n for n in await flow.notices(citizen, did) if n["kind"] == "apology")
    assert apology["content"]["late"] is True
    assert apology["content"]["apology_deadline"] == "2025-03-04T17:00:00+07:00"
    assert "Phiếu xin lỗi được gửi sau thời hạn (chậm nhất 17:00 ngày 04/03/2025)" in await _pdf_text(
        client, citizen, did, apology["id"])
    explanation = next(n for n in await flow.notices(flow.processing, did) if n["kind"] == "explanation")
    assert explanation["content"]["late"] is True
    assert "gửi sau thời hạn" in await _pdf_text(client, flow.processing, did, explanation["id"])

    # The applicant's history names the apology it can read, not the internal explanation (a 404 to it).
    mine = (await flow.history(citizen, did))[-1]
    assert mine["details"]["notices"] == [{"kind": "apology", "id": apology["id"]}]
    assert {k: v for k, v in mine["details"].items() if k != "notices"} == {
        k: v for k, v in details.items() if k != "notices"}
    assert explanation["id"] not in str(await flow.history(citizen, did))
    integrator = await accounts.client(agency_codes=[DEFAULT_AGENCY])  # reads its agencies' dossiers
    assert (await flow.history(integrator, did))[-1]["details"]["notices"] == [{"kind": "apology", "id": apology["id"]}]
    verify = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert verify.json()["valid"] is True

    # Not overdue against the new date in the officials' queue, but still late in the reports: by its
    # original due date, open and overdue, with its apology counted.
    assert (await flow.get(flow.processing, did))["overdue"] is False
    assert await _late_list(client) == (1, 0, 1, 1)
    set_clock(monkeypatch, 2025, 3, 10, 9, 0)  # finished before the new date, after the original one
    await flow.act(flow.processing, did, "appraise")
    await flow.act(flow.approval, did, "approve")
    result = await flow.upload_result(did, PDF)
    processed = await flow.act(flow.approval, did, "issue_result", attachments=[result])
    assert processed["state"] == "processed"
    issued = (await flow.history(flow.approval, did))[-1]["details"]
    assert (issued["late"], issued["late_against_original"]) == (False, True)
    set_clock(monkeypatch, 2025, 4, 2, 9, 0)
    assert await _late_list(client) == (1, 1, 0, 1)
    admin = await accounts.admin()
    report = await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)
    assert report.status_code == 200, report.text
    progress = next(g for g in report.json()["total"]["groups"] if g["name"] == "progress")
    on_time = next(r for r in progress["ratios"] if r["name"] == "finished_on_time")
    assert (on_time["numerator"], on_time["denominator"]) == (0, 1)


async def test_an_apology_in_time_is_not_late_and_one_without_a_due_date_is_refused(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=2)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    set_clock(monkeypatch, 2025, 3, 4, 16, 0)  # Tuesday, before the deadline
    await flow.act(flow.processing, did, "apologise", reason="Cần xác minh", new_due_date="2025-03-10")
    assert (await flow.history(flow.processing, did))[-1]["details"]["late"] is False
    apology = next(n for n in await flow.notices(citizen, did) if n["kind"] == "apology")
    assert apology["content"]["late"] is False
    assert "sau thời hạn" not in await _pdf_text(client, citizen, did, apology["id"])

    # A supplement asked at reception: the clock never started, there is no date to move.
    _, other = await flow.submitted(code)
    await flow.act(flow.reception, other["id"], "request_supplement", reason="Thiếu", items=["Bản sao CCCD"])
    assert "apologise" not in (await flow.get(flow.processing, other["id"]))["next_actions"]
    refused = await flow.post(flow.processing, other["id"], "apologise", reason="x", new_due_date="2025-03-12")
    assert refused.status_code == 409 and refused.json()["extra"]["guard"] == "has_due_date"

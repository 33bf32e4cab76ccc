"""Deadlines through the API with the clock fixed: the 2025 Tết example, overrides, apologies, late and at risk."""

from __future__ import annotations

import io

from pypdf import PdfReader

from tests.workflow.test_supplement_and_endings import at_local, local, set_clock


async def test_the_2025_tet_example_end_to_end(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 1, 22, 9, 30)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 1, 22, 10, 0)  # Wednesday; Tết 2025 falls within the next five working days
    received = await flow.act(flow.reception, dossier["id"], "receive")
    assert at_local(received["due_at"]) == local(2025, 2, 5, 17, 0)
    assert received["due_at"] == "2025-02-05T10:00:00Z"  # stored and answered in UTC
    receipt = (await flow.notices(citizen, dossier["id"]))[0]
    assert (receipt["kind"], receipt["form"]) == ("receipt", "01")
    assert receipt["content"]["received_at"] == "2025-01-22T10:00:00+07:00"
    assert receipt["content"]["due_at"] == "2025-02-05T17:00:00+07:00"
    pdf = await client.get(f"/v1/dossiers/{dossier['id']}/notices/{receipt['id']}",
                           headers={**citizen.headers, "Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert "17:00 ngày 05/02/2025" in text and "10:00 ngày 22/01/2025" in text
    assert "Đơn đề nghị" in text and "Trần Văn Đức" in text and dossier["code"] in text


async def test_a_saturday_made_working_counts(client, flow, accounts, monkeypatch):
    admin = await accounts.admin()
    override = await client.put("/v1/calendar/overrides/2025-03-08", headers=admin.headers,
                                json={"working": True, "note": "Làm bù theo quyết định của UBND tỉnh"})
    assert override.status_code == 201
    set_clock(monkeypatch, 2025, 3, 6, 9, 0)  # Thursday
    code = await flow.procedure(processing_days=2)
    _, dossier = await flow.submitted(code)
    received = await flow.act(flow.reception, dossier["id"], "receive")
    assert at_local(received["due_at"]) == local(2025, 3, 8, 17, 0)  # Friday, then the worked Saturday


async def test_late_dossier_with_an_apology(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    code = await flow.procedure(processing_days=2)
    citizen, dossier = await flow.submitted(code)
    _, other = await flow.submitted(code)
    did = dossier["id"]
    for d in (did, other["id"]):
        await flow.to_processing(d)
    assert at_local((await flow.get(citizen, did))["due_at"]) == local(2025, 3, 5, 17, 0)

    at_risk = await client.get("/v1/dossiers?due_within_working_days=1", headers=flow.processing.headers)
    assert at_risk.json()["items"] == []
    at_risk = await client.get("/v1/dossiers?due_within_working_days=2", headers=flow.processing.headers)
    assert {d["id"] for d in at_risk.json()["items"]} == {did, other["id"]}

    set_clock(monkeypatch, 2025, 3, 4, 16, 0)  # Tuesday: before the end of the day before the due date
    assert "apologise" in (await flow.get(flow.processing, did))["next_actions"]
    saturday = await flow.post(flow.processing, did, "apologise", reason="Cần xác minh", new_due_date="2025-03-08")
    assert saturday.status_code == 422 and saturday.json()["errors"][0]["loc"] == ["body", "new_due_date"]
    same_day = await flow.post(flow.processing, did, "apologise", reason="Cần xác minh", new_due_date="2025-03-05")
    assert same_day.status_code == 422
    apologised = await flow.act(flow.processing, did, "apologise", new_due_date="2025-03-10",
                                reason="Cần xác minh thêm với cơ quan liên quan")
    assert apologised["state"] == "processing" and apologised["national_status_code"] == 4
    assert at_local(apologised["due_at"]) == local(2025, 3, 10, 17, 0)
    assert at_local(apologised["original_due_at"]) == local(2025, 3, 5, 17, 0)
    notice = (await flow.notices(citizen, did))[-1]
    assert (notice["kind"], notice["form"]) == ("apology", "04")
    assert notice["content"]["original_due_at"] == "2025-03-05T17:00:00+07:00"
    assert notice["content"]["new_due_at"] == "2025-03-10T17:00:00+07:00"
    pdf = await client.get(f"/v1/dossiers/{did}/notices/{notice['id']}",
                           headers={**citizen.headers, "Accept": "application/pdf"})
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text and "17:00 ngày 10/03/2025" in text
    assert "Cần xác minh thêm với cơ quan liên quan" in text
    # Resolution 131: the explanation to the head of the agency, issued with the apology; not the applicant's.
    explanation = next(n for n in await flow.notices(flow.processing, did) if n["kind"] == "explanation")
    assert explanation["content"]["addressed_to"].startswith("Thủ trưởng ")
    assert explanation["content"]["reason"] == "Cần xác minh thêm với cơ quan liên quan"
    assert explanation["content"]["new_due_at"] == "2025-03-10T17:00:00+07:00"
    assert all(n["kind"] != "explanation" for n in await flow.notices(citizen, did))
    assert (await client.get(f"/v1/dossiers/{did}/notices/{explanation['id']}",
                             headers=citizen.headers)).status_code == 404
    pdf = await client.get(f"/v1/dossiers/{did}/notices/{explanation['id']}",
                           headers={**flow.processing.headers, "Accept": "application/pdf"})
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "GIẢI TRÌNH" in text and "Kính gửi" in text and "Cần xác minh thêm với cơ quan liên quan" in text

    set_clock(monkeypatch, 2025, 3, 5, 9, 0)  # the apology deadline has passed for the other dossier
    # Still offered (Resolution 131: every late dossier gets its apology), taken late (test_late_apology.py).
    assert "apologise" in (await flow.get(flow.processing, other["id"]))["next_actions"]

    set_clock(monkeypatch, 2025, 3, 6, 9, 0)  # the other dossier is now late; the apologised one is not
    assert (await flow.get(flow.processing, other["id"]))["overdue"] is True
    assert (await flow.get(citizen, did))["overdue"] is False
    late = await client.get("/v1/dossiers?overdue=true", headers=flow.processing.headers)
    assert [d["id"] for d in late.json()["items"]] == [other["id"]]

    await flow.act(flow.approval, other["id"], "approve")
    result = await flow.upload_result(other["id"], b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    processed = await flow.act(flow.approval, other["id"], "issue_result", attachments=[result])
    assert processed["overdue"] is False  # finished: no longer in the overdue queue
    assert (await flow.history(flow.approval, other["id"]))[-1]["details"]["late"] is True


async def test_step_overrun_is_recorded(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=10, step_time_limits=[{"step": "appraise", "working_days": 1},
                                                                      {"step": "reception", "hours": 2}])
    _, dossier = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 3, 3, 11, 30)  # 2.5 working hours after submission: reception overran
    await flow.to_processing(dossier["id"])
    set_clock(monkeypatch, 2025, 3, 5, 9, 0)  # appraisal took into a second working day
    await flow.act(flow.processing, dossier["id"], "appraise")
    steps = (await client.get(f"/v1/dossiers/{dossier['id']}/steps", headers=flow.reception.headers)).json()
    by_step = {s["step"]: s for s in steps["items"]}
    assert by_step["reception"]["overran"] is True
    assert at_local(by_step["reception"]["due_at"]) == local(2025, 3, 3, 11, 0)
    assert by_step["appraise"]["overran"] is True and by_step["appraise"]["holder_id"] == str(flow.processing.id)
    assert at_local(by_step["appraise"]["due_at"]) == local(2025, 3, 4, 17, 0)

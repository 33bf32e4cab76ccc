"""Form 05 printed: `GET /v1/dossiers/{id}/steps` with `Accept: application/pdf` is the process control slip
(phiếu kiểm soát quá trình giải quyết hồ sơ), for whoever may read the JSON slip and nobody else."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from tests.workflow.test_supplement_and_endings import set_clock

LIMITS = [{"step": "reception", "hours": 2}, {"step": "appraise", "working_days": 1},
          {"step": "approve", "working_days": 1}]
PDF = {"Accept": "application/pdf"}


def _text(content: bytes) -> str:
    """The PDF's text, whitespace folded (table cells wrap names across lines)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())


async def _moved_dossier(flow: Any, monkeypatch: Any) -> tuple[Any, dict[str, Any]]:
    """Received Monday 3 March 2025 within its 2 hours (on time), appraised the same day (early: due Tuesday), approved
    on Wednesday (late: due Tuesday 17:00); the result's issue under way."""
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=10, step_time_limits=LIMITS)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 10, 0)
    await flow.to_processing(did)
    set_clock(monkeypatch, 2025, 3, 3, 15, 0)
    await flow.act(flow.processing, did, "appraise")
    set_clock(monkeypatch, 2025, 3, 5, 9, 0)
    await flow.act(flow.approval, did, "approve")
    return citizen, dossier


async def test_the_slip_prints_every_step_with_who_when_and_how_it_stood(client, flow, monkeypatch):
    citizen, dossier = await _moved_dossier(flow, monkeypatch)
    url = f"/v1/dossiers/{dossier['id']}/steps"
    # `limit` pages the JSON; the print is the whole slip whatever it says.
    response = await client.get(url + "?limit=1", headers={**flow.reception.headers, **PDF})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf" and response.headers["vary"] == "Accept"
    assert response.headers["content-disposition"].startswith("inline; filename=")
    assert response.content.startswith(b"%PDF")
    text = _text(response.content)
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in text and "Mẫu số 05" in text
    assert dossier["code"] in text and "Trần Văn Đức" in text  # the applicant handed the dossier in
    for label in ("Tiếp nhận hồ sơ", "Phân công xử lý", "Thẩm định hồ sơ", "Phê duyệt", "Ban hành kết quả"):
        assert label in text
    assert "Lê Thị Tiếp Nhận" in text and "Phạm Văn Thẩm Định" in text and "Nguyễn Văn Duyệt" in text
    # reception on time (due 11:00, done 10:00 the same day), appraisal early, approval late, issue under way
    assert "Đúng hạn" in text and "Trước hạn" in text and "Quá hạn" in text and "Đang xử lý" in text
    assert "10:00 03/03/2025" in text and "17:00 04/03/2025" in text  # local times: received; appraisal's due
    assert "Thời hạn 2 giờ làm việc" in text and "Thời hạn 1 ngày làm việc" in text
    assert text.index("Tiếp nhận hồ sơ") < text.index("Thẩm định hồ sơ") < text.index("Phê duyệt")

    json_answer = await client.get(url, headers=flow.reception.headers)
    assert json_answer.status_code == 200 and json_answer.headers["vary"] == "Accept"
    assert [s["step"] for s in json_answer.json()["items"]] == ["reception", "assign", "appraise", "approve",
                                                               "issue_result"]
    # the applicant follows their own dossier: the same slip
    own = await client.get(url, headers={**citizen.headers, **PDF})
    assert own.status_code == 200 and own.content.startswith(b"%PDF") and dossier["code"] in _text(own.content)


async def test_nobody_else_gets_the_slip_and_other_types_are_refused(client, flow, accounts, monkeypatch):
    _, dossier = await _moved_dossier(flow, monkeypatch)
    url = f"/v1/dossiers/{dossier['id']}/steps"
    stranger = await accounts.citizen()
    elsewhere = await accounts.official("000.00.77.H01", ["reception", "processing", "approval"])
    for outsider in (stranger, elsewhere):
        for accept in ("application/pdf", "application/json"):
            answer = await client.get(url, headers={**outsider.headers, "Accept": accept})
            assert answer.status_code == 404 and answer.json()["code"] == "not_found"
            assert dossier["code"] not in answer.text
    refused = await client.get(url, headers={**flow.reception.headers, "Accept": "text/csv"})
    assert refused.status_code == 406 and refused.json()["code"] == "not_acceptable"
    assert refused.json()["extra"]["available"] == ["application/json", "application/pdf"]
    not_pdf = await client.get(url, headers={**flow.reception.headers, "Accept": "application/pdf;q=0, */*"})
    assert not_pdf.status_code == 200 and not_pdf.headers["content-type"] == "application/json"


async def test_a_fresh_dossier_prints_its_reception_under_way(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=10)
    _, dossier = await flow.submitted(code)
    response = await client.get(f"/v1/dossiers/{dossier['id']}/steps", headers={**flow.reception.headers, **PDF})
    assert response.status_code == 200, response.text
    text = _text(response.content)
    assert "Tiếp nhận hồ sơ" in text and "Đang xử lý" in text and "Mới đăng ký" in text


def test_early_on_time_and_late_are_read_on_the_local_day():
    from datetime import timedelta

    from app.workflow.deadlines import timeliness
    from tests.workflow.test_supplement_and_endings import local

    due = local(2025, 3, 4, 17, 0)
    assert timeliness(due, due) == "on_time"  # at 17:00:00 on the last day: in time
    assert timeliness(due + timedelta(seconds=1), due) == "late"
    assert timeliness(local(2025, 3, 4, 8, 0), due) == "on_time"  # the due day itself is not early
    assert timeliness(local(2025, 3, 3, 23, 59), due) == "early"
    # 00:30 local on the 4th is still the 3rd in UTC: the day is the local one
    assert timeliness(local(2025, 3, 4, 0, 30), due) == "on_time"


async def test_the_slip_prints_the_real_hand_over_not_the_start_a_supplement_wait_moved(client, flow, monkeypatch):
    """Appraisal handed over on Monday 3 March at 10:00; a supplement asked on Tuesday and answered the next Monday
    moves the step's counted start out by 4 working days (to Friday 7 March), not the hand-over the form prints."""
    set_clock(monkeypatch, 2025, 3, 3, 10, 0)
    code = await flow.procedure(processing_days=10, step_time_limits=LIMITS, clock_on_supplement="pause")
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    set_clock(monkeypatch, 2025, 3, 4, 11, 0)
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    set_clock(monkeypatch, 2025, 3, 10, 9, 0)
    await flow.act(citizen, did, "supplement", attachments=[await flow.upload_supplement(citizen, did)])
    appraisal = (await client.get(f"/v1/dossiers/{did}/steps", headers=flow.reception.headers)).json()["items"][-1]
    assert appraisal["step"] == "appraise" and appraisal["started_at"] != appraisal["handed_over_at"]
    text = _text((await client.get(f"/v1/dossiers/{did}/steps", headers={**flow.reception.headers, **PDF})).content)
    row = text[text.index("Thẩm định hồ sơ"):]
    assert "10:00 03/03/2025" in row and "10:00 07/03/2025" not in text

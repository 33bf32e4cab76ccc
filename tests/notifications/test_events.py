"""Each event produces the right message on each enabled channel: email read back from a real SMTP server (with
the notice PDF attached, subject decoded with diacritics intact), SMS and Zalo from the providers' fakes."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from pypdf import PdfReader

from app.core.clock import LOCAL_TZ
from app.core.pdf import render_document
from tests.notifications.conftest import deliver, message_rows
from tests.workflow.test_supplement_and_endings import set_clock

PHONE = "0912345678"


def _pdf_text(message: EmailMessage) -> str:
    pdfs = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1, [p.get_content_type() for p in message.iter_attachments()]
    content = pdfs[0].get_content()
    assert content.startswith(b"%PDF")
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _html(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


async def _all_channels(client: Any, actor: Any) -> None:
    response = await client.patch("/v1/accounts/me/notification-preferences", headers=actor.headers,
                                  json={"sms": True, "zalo": True})
    assert response.status_code == 200, response.text


def _next_weekday_after(day: date, days: int) -> date:
    candidate = day + timedelta(days=days)
    while candidate.weekday() >= 5:
        candidate += timedelta(days=1)
    return candidate


async def test_the_main_path_reaches_every_enabled_channel(client, flow, accounts, mail, sms, zalo, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5)
    citizen = await accounts.citizen(name="Trần Văn Đức", email="duc@example.vn", phone=PHONE)
    await _all_channels(client, citizen)
    _, dossier = await flow.submitted(code, citizen)
    did, dcode = dossier["id"], dossier["code"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday: due 10/03 17:00 after five working days
    await flow.act(flow.reception, did, "receive")
    await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))
    set_clock(monkeypatch, 2025, 3, 4, 10, 0)
    await flow.act(flow.processing, did, "request_supplement", reason="Hồ sơ chưa đủ",
                   items=["Bản sao Căn cước công dân", "Ảnh chân dung 4x6 <mới>"])
    supplement = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 5, 10, 0)
    await flow.act(citizen, did, "supplement", attachments=[supplement])  # the clock resumes: no message
    due = datetime.fromisoformat((await flow.get(citizen, did))["due_at"].replace("Z", "+00:00"))
    new_day = _next_weekday_after(due.astimezone(LOCAL_TZ).date(), 3)
    await flow.act(flow.processing, did, "apologise", reason="Cần xác minh với cơ quan liên quan",
                   new_due_date=new_day.isoformat())
    await flow.act(flow.approval, did, "approve")
    result = await flow.upload_result(did, render_document(issuer="Sở KH&CN", title="Giấy chứng nhận"))
    await flow.act(flow.approval, did, "issue_result", attachments=[result])
    await flow.act(flow.reception, did, "return_result",
                   delivery={"method": "post", "tracking_number": "EL123456789VN"})

    stats = await deliver()
    kinds = ["submitted", "received", "supplement_requested", "apology", "result_ready", "returned"]
    assert stats.fanned_out == 3 * len(kinds) and stats.delivered == 3 * len(kinds) and stats.failed == 0

    subjects = [m["Subject"] for m in mail.to("duc@example.vn")]
    assert len(subjects) == len(kinds)
    assert subjects[0] == f"[{dcode}] Hồ sơ đã được gửi đến Agency {dossier['agency_code']}"
    assert subjects[1] == f"[{dcode}] Hồ sơ đã được tiếp nhận, hẹn trả kết quả 17:00 ngày 10/03/2025"
    assert subjects[2] == f"[{dcode}] Yêu cầu bổ sung, hoàn thiện hồ sơ"
    assert subjects[3].startswith(f"[{dcode}] Thư xin lỗi và hẹn lại ngày trả kết quả: 17:00 ngày "
                                  f"{new_day:%d/%m/%Y}")
    assert subjects[4] == f"[{dcode}] Đã có kết quả giải quyết hồ sơ"
    assert subjects[5] == f"[{dcode}] Đã trả kết quả giải quyết hồ sơ"

    received, supplement_mail, apology = mail.to("duc@example.vn")[1:4]
    raw = received.as_bytes()
    assert b"=?utf-8?" in raw.lower() and "Hồ sơ".encode() not in raw.split(b"\n\n", 1)[0]  # RFC 2047 header
    assert received["From"].addresses[0].display_name == "Cổng Dịch vụ công"
    assert "17:00 ngày 10/03/2025" in _text(received) and "09:00 ngày 03/03/2025" in _text(received)
    assert "qua dịch vụ bưu chính công ích" not in _text(received) and "trực tuyến" in _text(received)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in _pdf_text(received)
    text = _text(supplement_mail)
    assert "- Bản sao Căn cước công dân" in text and "- Ảnh chân dung 4x6 <mới>" in text
    assert "Ảnh chân dung 4x6 &lt;mới&gt;" in _html(supplement_mail)  # autoescaped in HTML, plain in text
    assert "PHIẾU YÊU CẦU BỔ SUNG" in _pdf_text(supplement_mail)
    assert "Cần xác minh với cơ quan liên quan" in _text(apology) and "17:00 ngày 11/03/2025" in _text(apology)
    assert "XIN LỖI" in _pdf_text(apology)
    returned = mail.to("duc@example.vn")[5]
    assert "EL123456789VN" in _text(returned)

    assert [m["Phone"] for m in sms.received] == ["84912345678"] * len(kinds)
    assert all(m["IsUnicode"] == 1 and m["Brandname"] == "DVC-HATINH" for m in sms.received)
    assert "Bản sao Căn cước công dân; Ảnh chân dung 4x6 <mới>" in sms.received[2]["Content"]
    assert "mã vận đơn EL123456789VN" in sms.received[5]["Content"]
    assert [m["phone"] for m in zalo.received] == ["84912345678"] * len(kinds)
    assert [m["template_data"]["dossier_code"] for m in zalo.received] == [dcode] * len(kinds)
    assert zalo.received[1]["template_data"]["title"] == subjects[1]
    assert sorted({r.kind for r in await message_rows()}) == sorted(kinds)

    listed = await client.get(f"/v1/dossiers/{did}/notifications", headers=citizen.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(i["kind"], i["channel"]) for i in items[:3]] == [("submitted", "email"), ("submitted", "sms"),
                                                              ("submitted", "zalo")]
    assert {i["state"] for i in items} == {"delivered"} and all(i["delivered_at"] for i in items)
    assert {i["recipient"] for i in items} == {"d***@example.vn", "09******78"}
    assert items[3]["subject"] == subjects[1]


async def test_refusal_and_stop_list_the_reasons(client, flow, accounts, mail):
    code = await flow.procedure()
    citizen = await accounts.citizen(email="an@example.vn")
    _, refused = await flow.submitted(code, citizen)
    await flow.act(flow.reception, refused["id"], "reject", reason="Không thuộc thẩm quyền giải quyết",
                   items=["Thủ tục thuộc UBND cấp xã"])
    _, stopped = await flow.submitted(code, citizen)
    await flow.to_processing(stopped["id"])
    await flow.act(flow.processing, stopped["id"], "stop", reason="Người nộp đề nghị dừng")
    await deliver()
    by_subject = {m["Subject"]: m for m in mail.messages}
    refusal = by_subject[f"[{refused['code']}] Từ chối tiếp nhận giải quyết hồ sơ"]
    assert "- Không thuộc thẩm quyền giải quyết\n- Thủ tục thuộc UBND cấp xã" in _text(refusal)
    assert "TỪ CHỐI" in _pdf_text(refusal)
    stop = by_subject[f"[{stopped['code']}] Dừng xử lý hồ sơ"]
    assert "- Người nộp đề nghị dừng" in _text(stop)
    assert "DỪNG XỬ LÝ" in _pdf_text(stop)


async def test_payment_request_and_payment_in_english(client, flow, accounts, mail):
    fees = [{"kind": "fee", "name": "Lệ phí cấp giấy chứng nhận", "amount": 150000, "due": "before_processing"},
            {"kind": "charge", "name": "Phí thẩm định", "amount": 350000, "due": "before_processing"}]
    code = await flow.procedure(fee_items=fees)
    citizen = await accounts.citizen(email="lan@example.vn")
    english = await client.patch("/v1/accounts/me/notification-preferences", headers=citizen.headers,
                                 json={"language": "en"})
    assert english.json()["language"] == "en"
    _, dossier = await flow.submitted(code, citizen)
    did = dossier["id"]
    await flow.act(flow.reception, did, "request_payment")
    await deliver()
    request = mail.messages[-1]
    assert request["Subject"] == f"[{dossier['code']}] Payment requested: 500,000 VND"
    text = _text(request)
    assert "- Lệ phí cấp giấy chứng nhận: 150,000 VND" in text and "- Phí thẩm định: 350,000 VND" in text
    assert "online on the public service portal" in text and "reception desk" in text
    assert "NGHĨA VỤ TÀI CHÍNH" in _pdf_text(request)  # the notice itself is the Vietnamese form

    paid = await client.post(f"/v1/dossiers/{did}/payments/counter", headers=flow.finance.headers,
                             json={"receipt_number": "BL-0001"})
    assert paid.status_code == 201, paid.text
    await deliver()
    subjects = [m["Subject"] for m in mail.messages[-2:]]
    assert subjects[0] == f"[{dossier['code']}] Payment of 500,000 VND received"
    assert "receipt BL-0001" in _text(mail.messages[-2])
    assert subjects[1].startswith(f"[{dossier['code']}] Dossier received, result due ")
    assert "(UTC+7)" in subjects[1]


async def test_the_worker_task_delivers(flow, accounts, mail):
    import asyncio

    import app.notifications.tasks  # noqa: F401  (registers the task, as `dvc worker` does at start)
    from app.core.worker import registered_tasks, run_worker

    task = registered_tasks()["notifications.deliver"]
    _, dossier = await flow.submitted(await flow.procedure(), await accounts.citizen(email="ky@example.vn"))
    await run_worker(asyncio.Event(), tasks=[task], once=True)
    assert [m["To"] for m in mail.messages] == ["ky@example.vn"]
    assert mail.messages[0]["Subject"].startswith(f"[{dossier['code']}] Hồ sơ đã được gửi")


async def test_a_restarted_clock_sends_the_new_receipt(flow, accounts, mail, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5, clock_on_supplement="restart")
    citizen = await accounts.citizen(email="long@example.vn")
    _, dossier = await flow.submitted(code, citizen)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    await flow.act(flow.reception, did, "receive")
    await flow.act(flow.reception, did, "request_supplement", items=["Bản chính giấy phép"])
    supplement = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 6, 10, 0)  # Thursday: five working days from here end on Thursday 13/03
    await flow.act(citizen, did, "supplement", attachments=[supplement])
    await deliver()
    subjects = [m["Subject"].split("] ", 1)[1] for m in mail.messages]
    assert subjects == ["Hồ sơ đã được gửi đến Agency 000.00.12.H01",
                        "Hồ sơ đã được tiếp nhận, hẹn trả kết quả 17:00 ngày 10/03/2025",
                        "Yêu cầu bổ sung, hoàn thiện hồ sơ",
                        "Hồ sơ đã được tiếp nhận, hẹn trả kết quả 17:00 ngày 13/03/2025"]
    assert "GIẤY TIẾP NHẬN" in _pdf_text(mail.messages[-1])


async def test_refund_and_withdrawal_are_confirmed_and_a_fully_exempted_request_is_not_sent(client, flow, accounts,
                                                                                           mail):
    fees = [{"kind": "fee", "name": "Lệ phí cấp giấy chứng nhận", "amount": 150000, "due": "before_processing"}]
    code = await flow.procedure(fee_items=fees)
    citizen = await accounts.citizen(email="mai@example.vn")
    _, dossier = await flow.submitted(code, citizen)
    did, dcode = dossier["id"], dossier["code"]
    await flow.act(flow.reception, did, "request_payment")
    paid = await client.post(f"/v1/dossiers/{did}/payments/counter", headers=flow.finance.headers,
                             json={"receipt_number": "BL-0002"})
    assert paid.status_code == 201, paid.text
    refunded = await client.post(f"/v1/payments/{paid.json()['id']}/refunds", headers=flow.finance.headers,
                                 json={"amount": 150000, "reason": "Nộp trùng khoản lệ phí",
                                       "expected_available": 150000})
    assert refunded.status_code == 201, refunded.text
    await flow.act(citizen, did, "withdraw", reason="Không còn nhu cầu")
    await deliver()
    by_subject = {m["Subject"]: m for m in mail.messages}
    refund = by_subject[f"[{dcode}] Hoàn trả 150.000 đồng"]
    assert "Lý do: Nộp trùng khoản lệ phí" in _text(refund)
    withdrawn = by_subject[f"[{dcode}] Đã rút hồ sơ"]
    assert "hồ sơ đã được rút lúc" in _text(withdrawn)

    _, exempted = await flow.submitted(code, citizen)
    await flow.act(flow.reception, exempted["id"], "request_payment",
                   exemptions=[{"item": 0, "reason": "Người có công với cách mạng"}])
    await deliver()
    subjects = [m["Subject"] for m in mail.messages if exempted["code"] in m["Subject"]]
    assert len(subjects) == 2 and subjects[1].startswith(f"[{exempted['code']}] Hồ sơ đã được tiếp nhận"), subjects

"""Templates (every kind, both languages, diacritics, autoescaping), masking, and the email's wire format."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from app.notifications.channels.base import Attachment, OutgoingMessage
from app.notifications.channels.email import build_email
from app.notifications.channels.http import international, without_diacritics
from app.notifications.masking import mask, mask_text
from app.notifications.render import KINDS, LANGUAGES, render


def _context(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "lang": "vi", "code": "000.00.12.H01-250303-0001", "procedure_name": "Cấp giấy chứng nhận đủ điều kiện",
        "agency_name": "Sở Khoa học và Công nghệ", "applicant_name": "Trần Văn Đức", "has_pdf": True,
        "submitted_at": "08:00 ngày 03/03/2025", "received_at": "09:00 ngày 03/03/2025",
        "due_at": "17:00 ngày 10/03/2025", "delivery_method": "trực tuyến", "delivery_address": None,
        "items": ["Bản sao CCCD", "<b>Ảnh</b> 4x6"], "reason": "Thiếu giấy tờ", "reasons": ["Không thuộc thẩm quyền"],
        "original_due_at": "17:00 ngày 10/03/2025", "new_due_at": "17:00 ngày 14/03/2025",
        "result_name": "Giấy chứng nhận", "tracking_number": "EL123456789VN", "returned_at": "10:00 ngày 15/03/2025",
        "fees": [{"name": "Lệ phí", "amount": "150.000 đồng", "exempt_reason": None}], "amount": "150.000 đồng",
        "fees_on_result": None, "paid_amount": "150.000 đồng", "receipt_number": "BL-1", "settled": True,
        "to_refund": False, "moves_on": True,
        "refund_amount": "150.000 đồng", "refund_reason": "Nộp trùng", "withdrawn_at": "10:00 ngày 04/03/2025",
        "outcome": "expired", "cancel_reason": "Ngân hàng không quyết toán", "still_owed": "150.000 đồng",
        "closed": False, "payment_window": 90}
    return {**base, **overrides}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_in_both_languages(kind: str, language: str) -> None:
    rendered = render(kind, language, _context(lang=language))
    assert rendered.subject.startswith("[000.00.12.H01-250303-0001] ")
    assert "\n" not in rendered.subject and "\n" not in rendered.short
    assert rendered.text.startswith("Kính gửi Trần Văn Đức," if language == "vi" else "Dear Trần Văn Đức,")
    assert "{{" not in rendered.text and "{%" not in rendered.text and "\n\n\n" not in rendered.text
    assert rendered.html.startswith("<!DOCTYPE html>") and "Trần Văn Đức" in rendered.html
    assert 0 < len(rendered.short) <= 400


def test_vietnamese_text_and_escaped_html() -> None:
    rendered = render("supplement_requested", "vi", _context())
    assert rendered.subject == "[000.00.12.H01-250303-0001] Yêu cầu bổ sung, hoàn thiện hồ sơ"
    assert "- Bản sao CCCD\n- <b>Ảnh</b> 4x6" in rendered.text
    assert "<li>&lt;b&gt;Ảnh&lt;/b&gt; 4x6</li>" in rendered.html and "<b>Ảnh</b>" not in rendered.html
    assert "Lý do: Thiếu giấy tờ" in rendered.text
    assert "cần bổ sung 2 nội dung: Bản sao CCCD; <b>Ảnh</b> 4x6" in rendered.short


@pytest.mark.parametrize("outcome", ["failed", "cancelled", "expired", "amount_mismatch"])
def test_a_failed_payment_says_why_and_what_to_do(outcome: str) -> None:
    owed = render("payment_failed", "vi", _context(outcome=outcome, reported_amount="149.000 đồng"))
    why = {"failed": "bị từ chối", "cancelled": "bị hủy tại đơn vị thanh toán", "expired": "hết hạn",
           "amount_mismatch": "báo số tiền 149.000 đồng, khác với số tiền của giao dịch"}[outcome]
    assert why in owed.text and "Số tiền còn phải nộp: 150.000 đồng" in owed.text
    assert "Đề nghị nộp lại 150.000 đồng" in owed.short and "\n\n\n" not in owed.text
    # Money of another amount is never counted towards the fees (a surplus to refund): no "counted once confirmed".
    assert ("khi đơn vị thanh toán xác nhận" in owed.text) == (outcome != "amount_mismatch")
    closed = render("payment_failed", "en", _context(outcome=outcome, still_owed=None, closed=True,
                                                     reported_amount=None))
    assert "The dossier has ended; you do not need to pay this." in closed.text and "again" not in closed.short
    assert ("reported an amount, different" in closed.text) == (outcome == "amount_mismatch")


def test_postal_return_carries_the_tracking_number() -> None:
    rendered = render("returned", "vi", _context(delivery_method="qua dịch vụ bưu chính công ích",
                                                 delivery_address="1 Trần Phú, Hà Tĩnh"))
    assert "Mã vận đơn bưu chính: EL123456789VN (gửi đến 1 Trần Phú, Hà Tĩnh)." in rendered.text
    online = render("returned", "vi", _context(tracking_number=None))
    assert "vận đơn" not in online.text


def test_email_headers_are_rfc2047_and_body_utf8() -> None:
    rendered = render("apology", "vi", _context())
    outgoing = OutgoingMessage(recipient="duc@example.vn", subject=rendered.subject, text=rendered.text,
                               html=rendered.html, short=rendered.short, dossier_code="X", reference="dvc-1-email",
                               attachments=[Attachment("apology-X.pdf", b"%PDF-1.4 test")])
    wire = build_email(outgoing, "Cổng Dịch vụ công <no-reply@dvc.example.vn>").as_bytes()
    headers = wire.split(b"\n\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers.lower()
    parsed = message_from_bytes(wire, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == rendered.subject and "xin lỗi" in parsed["Subject"]
    assert parsed["Message-ID"] == "<dvc-1-email@dvc.example.vn>"
    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None and "thành thật xin lỗi" in plain.get_content()
    [pdf] = list(parsed.iter_attachments())
    assert pdf.get_filename() == "apology-X.pdf" and pdf.get_content() == b"%PDF-1.4 test"


def test_masking() -> None:
    assert mask("an@example.vn") == "a***@example.vn"
    assert mask("0912345678") == "09******78"
    assert mask("+84912345678") == "84*******78"
    assert mask_text("550 <an.nguyen@example.vn> refused; sms to 0912345678 failed") == \
        "550 <a***@example.vn> refused; sms to 09******78 failed"


def test_phone_and_diacritics_helpers() -> None:
    assert international("0912 345 678") == "84912345678" and international("+84912345678") == "84912345678"
    assert without_diacritics("Hồ sơ đã được tiếp nhận. Đề nghị") == "Ho so da duoc tiep nhan. De nghi"

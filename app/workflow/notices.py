"""Notices to the applicant, in the shape of the Circular 01/2018/TT-VPCP forms.

01 receipt (giấy tiếp nhận hồ sơ và hẹn trả kết quả), 02 supplement request (all missing items at once),
03 refusal (with reasons), 04 apology with a new return date; plus payment request, result, returned and
stop notices. Content is frozen at issue (times as Asia/Ho_Chi_Minh ISO strings); the PDF is rendered from it.

One notice is internal: the explanation of a delay to the head of the agency, issued with every apology
(Resolution 131/NQ-CP: a late dossier needs a written explanation as well as the apology to the applicant).
Applicants do not see it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import signing_keys
from app.core.clock import LOCAL_TZ
from app.core.pagination import PageParams, keyset_page
from app.core.pdf import render_document
from app.core.pdfsign import KeptKeySigner, issue_pdf
from app.dossiers.models import Dossier
from app.workflow.history import ActorRef
from app.workflow.models import Notice

FORMS: dict[str, tuple[str | None, str]] = {
    "receipt": ("01", "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"),
    "supplement_request": ("02", "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ"),
    "refusal": ("03", "Phiếu từ chối tiếp nhận giải quyết hồ sơ"),
    "apology": ("04", "Phiếu xin lỗi và hẹn lại ngày trả kết quả"),
    "explanation": (None, "Văn bản giải trình lý do chậm giải quyết hồ sơ"),
    "payment_request": (None, "Thông báo thực hiện nghĩa vụ tài chính"),
    "result": (None, "Thông báo kết quả giải quyết hồ sơ"),
    "returned": (None, "Phiếu trả kết quả giải quyết hồ sơ"),
    "stop": (None, "Thông báo dừng xử lý hồ sơ"),
}
# Notices that list the request's reason and items as the reasons for refusing or stopping.
REASON_NOTICES = frozenset({"refusal", "stop"})
INTERNAL = frozenset({"explanation"})  # addressed inside the agency, not to the applicant
DELIVERY_VI = {"online": "Trực tuyến", "desk": "Tại Bộ phận một cửa", "post": "Qua dịch vụ bưu chính công ích"}


def local_iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def _display(value: str | None) -> str:
    """'10:00 ngày 22/01/2025' from a local ISO string."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value).astimezone(LOCAL_TZ)
    return f"{moment:%H:%M} ngày {moment:%d/%m/%Y}"


def issue(session: AsyncSession, dossier: Dossier, kind: str, *, history_seq: int, at: datetime,
          by: ActorRef, content: dict[str, Any]) -> Notice:
    form, title = FORMS[kind]
    base = {"title": title, "dossier_code": dossier.code, "procedure_name": dossier.procedure_name,
            "agency_name": dossier.agency_name, "applicant_name": dossier.applicant_name,
            "issued_at": local_iso(at), "issued_by": by.name}
    notice = Notice(id=uuid.uuid4(), dossier_id=dossier.id, kind=kind, form=form, history_seq=history_seq,
                    issued_at=at, issued_by_id=by.id, issued_by_name=by.name, content={**base, **content})
    session.add(notice)
    return notice


# In the order issued; the id makes the key unique (an apology and its explanation share a transition) so that
# a cursor never skips or repeats a notice.
_NOTICE_ORDER = ((Notice.issued_at, False), (Notice.history_seq, False), (Notice.id, False))


def _notices_of(dossier_id: uuid.UUID, internal: bool) -> Select[Notice]:
    stmt = select(Notice).where(Notice.dossier_id == dossier_id)
    return stmt if internal else stmt.where(Notice.kind.not_in(INTERNAL))


def details_shown(details: dict[str, Any], *, internal: bool) -> dict[str, Any]:
    """A history entry's details as the reader may see them: without `internal`, the notices the action issued
    leave out the internal ones, whose ids would only name a notice that reader gets a 404 for."""
    listed = details.get("notices")
    if internal or not isinstance(listed, list):
        return details
    return {**details, "notices": [n for n in listed if not (isinstance(n, dict) and n.get("kind") in INTERNAL)]}


async def list_notices(session: AsyncSession, dossier_id: uuid.UUID) -> list[Notice]:
    """All the dossier's notices, internal ones included, in the order issued (what the notification composer
    searches). The list route reads `notices_page`."""
    stmt = _notices_of(dossier_id, True).order_by(*[column for column, _ in _NOTICE_ORDER])
    return list((await session.execute(stmt)).scalars())


async def notices_page(session: AsyncSession, dossier_id: uuid.UUID, page: PageParams, *,
                       internal: bool) -> tuple[list[Notice], str | None]:
    """One page of the dossier's notices in the order issued, and the cursor of the next (None on the last)."""
    return await keyset_page(session, _notices_of(dossier_id, internal), order=_NOTICE_ORDER, params=page,
                             key=lambda n: [n.issued_at, n.history_seq, n.id])


async def get_notice(session: AsyncSession, dossier_id: uuid.UUID, notice_id: uuid.UUID, *,
                     internal: bool = True) -> Notice | None:
    stmt = select(Notice).where(Notice.id == notice_id, Notice.dossier_id == dossier_id)
    if not internal:
        stmt = stmt.where(Notice.kind.not_in(INTERNAL))
    return (await session.execute(stmt)).scalar_one_or_none()


def _late_apology(content: dict[str, Any]) -> list[str]:
    """The sentence an apology (and its explanation) sent after its deadline carries."""
    if not content.get("late"):
        return []
    return [f"Phiếu xin lỗi được gửi sau thời hạn (chậm nhất {_display(content.get('apology_deadline'))})."]


def _fields(notice: Notice) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(labelled fields, paragraphs, numbered items) of one notice."""
    c = notice.content
    fields = [("Mã hồ sơ", c.get("dossier_code") or "-"), ("Thủ tục", c.get("procedure_name") or "-"),
              ("Người nộp hồ sơ", c.get("applicant_name") or "-")]
    paragraphs: list[str] = []
    items: list[str] = []
    kind = notice.kind
    if kind == "receipt":
        delivery = c.get("delivery") or {}
        fields += [("Tiếp nhận lúc", _display(c.get("received_at"))),
                   ("Hẹn trả kết quả", _display(c.get("due_at"))),
                   ("Nhận kết quả", DELIVERY_VI.get(delivery.get("method", ""), "-")
                    + (f" - {delivery['address']}" if delivery.get("address") else ""))]
        paragraphs.append("Thành phần hồ sơ đã nhận:")
        items = [f"{d.get('name') or d.get('part')}: {d.get('file_name')}" for d in c.get("documents", [])]
    elif kind == "supplement_request":
        fields.append(("Ngày yêu cầu", _display(c.get("issued_at"))))
        paragraphs.append("Đề nghị bổ sung, hoàn thiện các nội dung sau:")
        if c.get("reason"):
            paragraphs.append(f"Lý do: {c['reason']}")
        items = list(c.get("items", []))
    elif kind in REASON_NOTICES:
        paragraphs.append("Lý do:")
        items = list(c.get("reasons", []))
    elif kind == "apology":
        fields += [("Hạn trả ban đầu", _display(c.get("original_due_at"))),
                   ("Hẹn lại ngày trả", _display(c.get("new_due_at")))]
        paragraphs += [f"Lý do chậm trễ: {c.get('reason') or '-'}",
                       "Cơ quan giải quyết thành thật xin lỗi ông/bà vì sự chậm trễ này.", *_late_apology(c)]
    elif kind == "explanation":
        fields = [("Kính gửi", c.get("addressed_to") or "-"), *fields,
                  ("Hạn trả ban đầu", _display(c.get("original_due_at"))),
                  ("Hạn trả trước khi giải trình", _display(c.get("previous_due_at"))),
                  ("Hẹn lại ngày trả", _display(c.get("new_due_at")))]
        paragraphs += [f"Lý do chậm giải quyết: {c.get('reason') or '-'}", *_late_apology(c),
                       f"Người giải trình: {c.get('issued_by') or '-'}"]
    elif kind == "payment_request":
        paragraphs.append("Đề nghị thực hiện nghĩa vụ tài chính trước khi hồ sơ được giải quyết:")
        items = [f"{f.get('name')}: {int(f.get('amount', 0)):,} đồng".replace(",", ".") for f in c.get("fees", [])]
    elif kind == "result":
        fields.append(("Kết quả", c.get("result_name") or "-"))
        items = [f"Ký số bởi: {s.get('signer')}" for s in c.get("signatures", [])]
    elif kind == "returned":
        delivery = c.get("delivery") or {}
        fields += [("Trả kết quả lúc", _display(c.get("issued_at"))),
                   ("Hình thức", DELIVERY_VI.get(delivery.get("method", ""), "-"))]
        if delivery.get("tracking_number"):
            fields.append(("Mã vận đơn", delivery["tracking_number"]))
    return fields, paragraphs, items


async def render_pdf(session: AsyncSession, notice: Notice) -> bytes:
    """The notice printed in its form, signed in the issuing agency's name, with its own key if it has one
    (app.core.pdfsign)."""
    fields, paragraphs, items = _fields(notice)
    form = f"Mẫu số {notice.form} - Thông tư 01/2018/TT-VPCP" if notice.form else None
    footer = f"Lập lúc {_display(notice.content.get('issued_at'))} bởi {notice.issued_by_name or 'hệ thống'}."
    agency = notice.content.get("agency_name") or ""
    return await issue_pdf(partial(render_document, issuer=agency, title=notice.content["title"], subtitle=form,
                                   fields=fields, paragraphs=paragraphs, items=items, footer=footer),
                           agency_name=agency, agency_signer=await _agency_signer(session, notice.dossier_id))


async def _agency_signer(session: AsyncSession, dossier_id: uuid.UUID) -> KeptKeySigner | None:
    """The issuing agency's own signer: the dossier's agency (a notice records its name only)."""
    agency_code = await session.scalar(select(Dossier.agency_code).where(Dossier.id == dossier_id))
    return None if agency_code is None else await signing_keys.document_signer(session, agency_code)

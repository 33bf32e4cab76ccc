"""What the national portal's dossier record says beyond the dossier row: the field of the procedure, the
applicant's identifier, the documents filed, fees paid, supplement requests, result documents and the times of
refusal and hand-over (`DongBoHoSoMC`); and the processing history (`CapNhatTienDoHoSoMC`).

The field names, list item shapes and empty values follow OpenCPS and TD (docs/national-portal.md, where each
field's source is given). Every value is a string; a time is yyyyMMddHHmmss in Asia/Ho_Chi_Minh or "". Nothing
links to a file: we have no stable public address for one, so `DuongDanTaiTepTin` / `DuongDanTepTinKetQua` are ""
(as OpenCPS leaves them).

Loading is a fixed number of queries per dossier (`load_extras`: attachments, history, fee obligations with their
lines, online payments), whatever the number of files, entries or lines: the portal consumer sends batches.

A record tells what was so at its event, however late it is sent: the history up to the event's entry (and so
the supplement files handed in and the results issued by then), and the fees paid by the event's time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import get_settings
from app.dossiers.models import Attachment, AttachmentKind
from app.fees.models import AttemptState, PaymentAttempt
from app.fees.obligations import list_obligations
from app.identity.deps import acr_satisfies
from app.workflow.models import HistoryEntry, StepRecord

SUMMARY_MAX = 1000  # TD cuts TrichYeuHoSo at 1000 characters
HANDLER_MAX = 50  # TD cuts NguoiXuLy at 50 characters
REFUSED, RETURNED = 3, 10
COUNTER = "counter"  # the fee provider of a payment taken at the desk
# NoiDungXuLy: what the entry's action did, as the portal's readers say it (the slip's step names where they exist).
ACTION_TEXT = {
    "submit": "Nộp hồ sơ", "receive": "Tiếp nhận hồ sơ", "reject": "Từ chối tiếp nhận hồ sơ",
    "request_supplement": "Yêu cầu bổ sung hồ sơ", "supplement": "Bổ sung hồ sơ",
    "request_payment": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "confirm_payment": "Xác nhận thực hiện nghĩa vụ tài chính",
    "assign": "Phân công xử lý", "appraise": "Thẩm định hồ sơ", "approve": "Phê duyệt",
    "stop": "Dừng xử lý", "withdraw": "Công dân rút hồ sơ", "withdraw_on_request": "Rút hồ sơ theo đề nghị",
    "issue_result": "Ban hành kết quả", "return_result": "Trả kết quả", "apologise": "Xin lỗi và hẹn lại ngày trả",
}


def portal_time(at: datetime | None) -> str:
    return clock.local(at).strftime("%Y%m%d%H%M%S") if at is not None else ""


def _utc(text: Any) -> datetime | None:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class RecordExtras:
    """What the record needs from the workflow, dossier files and fees, loaded once per message."""

    attachments: list[Attachment] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    fee_lines: list[dict[str, str]] = field(default_factory=list)
    paid_online: bool = False


async def load_extras(session: AsyncSession, dossier_id: uuid.UUID, *, up_to_seq: int | None = None,
                      as_of: datetime | None = None) -> RecordExtras:
    """Five queries (two for the obligations and their lines), however much the dossier holds. `up_to_seq`: the
    history as the message's event left it (None: all of it), so a record never tells of a later step; `as_of`:
    the event's time, so a record sent late lists only the fees paid by then (None: all paid now)."""
    attachments = list((await session.execute(
        select(Attachment).where(Attachment.dossier_id == dossier_id)
        .order_by(Attachment.uploaded_at, Attachment.id))).scalars())
    entries = select(HistoryEntry).where(HistoryEntry.dossier_id == dossier_id).order_by(HistoryEntry.seq)
    if up_to_seq is not None:
        entries = entries.where(HistoryEntry.seq <= up_to_seq)
    history = list((await session.execute(entries)).scalars())
    online = {row.obligation_id for row in (await session.execute(
        select(PaymentAttempt.obligation_id).where(
            PaymentAttempt.dossier_id == dossier_id, PaymentAttempt.state == AttemptState.succeeded.value,
            PaymentAttempt.provider != COUNTER,
            *([PaymentAttempt.completed_at <= as_of] if as_of is not None else [])))).all()}
    lines: list[dict[str, str]] = []
    for obligation in await list_obligations(session, dossier_id):
        if obligation.settled_at is None:  # TD lists fees paid, not fees asked for
            continue
        if as_of is not None and obligation.settled_at > as_of:  # paid after the event: not so when it happened
            continue
        lines += [{"TenPhiLePhi": line.name, "MaPhiLePhi": str(line.item_index),
                   "HinhThucThu": "1" if obligation.id in online else "2", "Gia": str(line.amount),
                   "LoaiPhiLePhi": "2" if line.kind == "charge" else "1"}
                  for line in obligation.lines if not line.exempt and line.amount > 0]
    return RecordExtras(attachments=attachments, history=history, fee_lines=lines, paid_online=bool(online))


def _document(attachment: Attachment) -> dict[str, str]:
    """A `TaiLieuNop` item (OpenCPS's five names; TD's four more). Our attachments are uploaded files, never
    taken from the national document store nor reused, and a deleted one leaves no row."""
    return {"TepDinhKemId": str(attachment.id), "TenTepDinhKem": attachment.file_name, "IsDeleted": "0",
            "MaThanhPhanHoSo": attachment.part, "DuongDanTaiTepTin": "", "DuocSoHoa": "1",
            "DuocTaiSuDung": "0", "DuocLayTuKhoDMQG": "0", "MaKetQuaThayThe": ""}


def _named(details: dict[str, Any] | None, key: str) -> set[str]:
    return {str(value) for value in (details or {}).get(key, [])}


def _supplements(history: list[HistoryEntry], files: dict[str, Attachment]) -> list[dict[str, Any]]:
    """One `DanhSachHoSoBoSung` item per supplement request, with the answer that followed it (if any)."""
    items: list[dict[str, Any]] = []
    due: datetime | None = None
    for entry in history:
        details = entry.details or {}
        if entry.action == "request_supplement":
            text = "; ".join(str(i) for i in details.get("items", [])) or entry.reason or ""
            items.append({"HoSoBoSungId": str(entry.seq), "NguoiYeuCauBoSung": entry.actor_name or "",
                          "NoiDungBoSung": text, "NgayBoSung": portal_time(entry.at), "NguoiTiepNhanBoSung": "",
                          "ThongTinTiepNhan": "", "NgayTiepNhanBoSung": "", "TrangThaiBoSung": "0",
                          "DanhSachGiayToBoSung": [], "DanhSachLePhiBoSung": [],
                          "NgayHenTraTruoc": portal_time(due), "NgayHenTraMoi": ""})
        elif entry.action == "supplement" and items and items[-1]["TrangThaiBoSung"] == "0":
            answered = items[-1]
            answered.update(
                NguoiTiepNhanBoSung=(entry.actor_name or "") if entry.actor_kind == "official" else "",
                NgayTiepNhanBoSung=portal_time(entry.at), TrangThaiBoSung="1",
                DanhSachGiayToBoSung=[_document(files[i]) for i in sorted(_named(details, "attachments"))
                                      if i in files],
                NgayHenTraMoi=portal_time(_utc(details.get("due_at"))))
        due = _utc(details.get("new_due_at") or details.get("due_at")) or due
    return items


def _identifiers(citizen_id: str | None) -> list[dict[str, str]]:
    """`DinhDanhCHS` (TD): a 12-digit citizen identity number is type "1", a 9-digit identity card "2". TD knows no
    type for a tax code (it sends a placeholder number); we send none rather than a made-up one."""
    if citizen_id and citizen_id.isdigit() and len(citizen_id) in (9, 12):
        return [{"LoaiDinhDanh": "1" if len(citizen_id) == 12 else "2", "SoDinhDanh": citizen_id}]
    return []


def vneid_authenticated(issuer: str | None, acr: str | None) -> str:
    """`TaiKhoanDuocXacThucVoiVNeID` (TD: a string, "1" or "0"; TD itself always sends "0"): "1" when the dossier was
    filed online through a login from a VNeID issuer (DVC_VNEID_ISSUERS) at DVC_VNEID_MIN_ACR or higher. "0" for
    any other login, and for a dossier filed by an official or forwarded (no applicant's login to tell of)."""
    settings = get_settings()
    if issuer is None or issuer not in settings.vneid_issuer_list():
        return "0"
    return "1" if acr_satisfies(acr, settings.vneid_min_acr) else "0"


def record_fields(extras: RecordExtras, *, status_code: int, procedure_name: str, applicant_name: str | None,
                  citizen_id: str | None, submitted_at: datetime | None, from_portal: bool,
                  submitter_issuer: str | None = None, submitter_acr: str | None = None) -> dict[str, Any]:
    """The record's fields that rest on more than the dossier row (the caller adds the field of the procedure)."""
    history = extras.history
    files = {str(a.id): a for a in extras.attachments}
    supplied = set().union(*(_named(e.details, "attachments") for e in history if e.action == "supplement"))
    results = next((_named(e.details, "result_attachments") for e in reversed(history)
                    if e.action == "issue_result"), set())
    filed = [a for a in extras.attachments if a.kind == AttachmentKind.document.value
             or (a.kind == AttachmentKind.supplement.value and str(a.id) in supplied)]
    returned = next((e.at for e in reversed(history) if e.to_code == RETURNED and e.action == "return_result"), None)
    refused = next((e.at for e in reversed(history) if e.to_code == REFUSED), None)
    summary = " - ".join(part for part in (procedure_name, applicant_name) if part)[:SUMMARY_MAX]
    return {
        "TrichYeuHoSo": summary, "NgayNopHoSo": portal_time(submitted_at), "DinhDanhCHS": _identifiers(citizen_id),
        "NgayTra": portal_time(returned) if status_code == RETURNED else "",
        "NgayTuChoi": portal_time(refused) if status_code == REFUSED else "",
        "NoiNopHoSo": "1" if from_portal else "2",
        "TaiKhoanDuocXacThucVoiVNeID": vneid_authenticated(submitter_issuer, submitter_acr),
        "TaiLieuNop": [_document(a) for a in filed], "HoSoCoThanhPhanSoHoa": "1" if filed else "0",
        "DanhSachLePhi": extras.fee_lines, "DuocThanhToanTrucTuyen": "1" if extras.paid_online else "0",
        "DanhSachHoSoBoSung": _supplements(history, files),
        "DanhSachGiayToKetQua": [{"TenGiayTo": files[i].file_name, "MaThanhPhanHoSo": "", "GiayToId": i,
                                  "DuongDanTepTinKetQua": "", "MaGiayToKetQua": ""}
                                 for i in sorted(results & files.keys(), key=lambda i: (files[i].uploaded_at, i))],
    }


# --- CapNhatTienDoHoSoMC -----------------------------------------------------------------------------------------

async def load_progress(session: AsyncSession, dossier_id: uuid.UUID, after_seq: int,
                        up_to_seq: int) -> tuple[list[HistoryEntry], dict[int, StepRecord]]:
    """The history entries after `after_seq` up to `up_to_seq`, with the step each completed: two queries."""
    entries = list((await session.execute(
        select(HistoryEntry).where(HistoryEntry.dossier_id == dossier_id, HistoryEntry.seq > after_seq,
                                   HistoryEntry.seq <= up_to_seq).order_by(HistoryEntry.seq))).scalars())
    steps = (await session.execute(
        select(StepRecord).where(StepRecord.dossier_id == dossier_id, StepRecord.history_seq > after_seq,
                                 StepRecord.history_seq <= up_to_seq))).scalars()
    return entries, {step.history_seq: step for step in steps}


def _handler(name: str | None) -> str:
    name = name or ""
    return name if len(name) <= HANDLER_MAX else name[:HANDLER_MAX - 3] + "..."


def progress_items(dossier_key: str, entries: list[HistoryEntry],
                   steps: dict[int, StepRecord]) -> list[dict[str, str]]:
    """One item per history entry, as OpenCPS and TD shape them. No position (ChucDanh) or department
    (PhongBanXuLy) is stored: "" as both sources send them. A step's start (when its holder got the dossier; the
    counted start for steps recorded before migration 0036) and its allowed end come from the step the entry
    completed; "" for an entry that completed none."""
    items = []
    for entry in entries:
        step = steps.get(entry.seq)
        text = ACTION_TEXT.get(entry.action, entry.action)
        items.append({
            "MaHoSo": dossier_key, "NguoiXuLy": _handler(entry.actor_name), "ChucDanh": "",
            "ThoiDiemXuLy": portal_time(entry.at), "PhongBanXuLy": "",
            "NoiDungXuLy": f"{text}: {entry.reason}" if entry.reason else text,
            "TrangThai": str(entry.to_code) if entry.to_code is not None else "",
            "NgayBatDau": portal_time(step.handed_over_at or step.started_at) if step else "",
            "NgayKetThucTheoQuyDinh": portal_time(step.due_at) if step else ""})
    return items

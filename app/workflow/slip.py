"""Form 05 of Circular 01/2018/TT-VPCP printed: the process control slip (phiếu kiểm soát quá trình giải quyết hồ sơ).

The same rows as `GET /v1/dossiers/{id}/steps` (app.workflow.steps), one table row each: the step, who handed the
dossier over (the previous step's holder; the applicant for the first) and who took it (the step's holder), when
it was handed over (the real moment, not the start a supplement wait moves; the counted start for steps recorded
before migration 0036), its deadline, when it was done, and whether it was done early, on time or late; the step
under way last. Rendered when asked for (the slip changes as the dossier moves), never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import signing_keys
from app.core import clock
from app.core.clock import LOCAL_TZ
from app.core.pdf import render_table_document
from app.core.pdfsign import issue_pdf
from app.dossiers.models import Dossier
from app.workflow.deadlines import TIMELINESS_VI, timeliness
from app.workflow.definition import definitions
from app.workflow.models import HistoryEntry, StepRecord
from app.workflow.progress import VersionFacts
from app.workflow.steps import OpenStep, whole_slip

FORM_TITLE = "Phiếu kiểm soát quá trình giải quyết hồ sơ"
FORM_NUMBER = "Mẫu số 05 - Thông tư 01/2018/TT-VPCP"
# A dossier's steps are a handful; a slip is a few pages at most. Beyond this (a self-repeating appraisal gone
# wild), the print says so and the JSON list has every row.
MAX_PRINTED_STEPS = 500
STEP_VI = {"reception": "Tiếp nhận hồ sơ", "assign": "Phân công xử lý", "appraise": "Thẩm định hồ sơ",
           "approve": "Phê duyệt", "issue_result": "Ban hành kết quả", "return_result": "Trả kết quả"}
# Actions that complete a step other than by doing it (their history reason goes into the notes).
ENDING_VI = {"reject": "Từ chối tiếp nhận", "stop": "Dừng xử lý",
             "request_payment": "Yêu cầu thực hiện nghĩa vụ tài chính"}
HEADINGS = ("STT", "Bước xử lý", "Bên giao", "Bên nhận", "Thời điểm giao, nhận", "Hạn xử lý", "Hoàn thành lúc",
            "Kết quả (trước hạn, đúng hạn, quá hạn)", "Ghi chú")
COLUMN_WIDTHS = (9, 30, 33, 33, 27, 27, 27, 30, 61)  # mm, landscape A4 less the margins
NOTE_CHARS = 300


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(LOCAL_TZ):%H:%M %d/%m/%Y}"


def _allowance(step: StepRecord | OpenStep) -> str | None:
    if step.allowance_working_days:
        return f"Thời hạn {step.allowance_working_days} ngày làm việc"
    if step.allowance_hours:
        return f"Thời hạn {step.allowance_hours} giờ làm việc"
    return None


def _outcome(step: StepRecord | OpenStep) -> str:
    if step.ended_at is None:
        return "Đang xử lý" + {True: " (đã quá hạn)", False: " (trong hạn)", None: ""}[step.overran]
    if step.due_at is None:
        return "Không quy định thời hạn"
    return TIMELINESS_VI[timeliness(step.ended_at, step.due_at)]


def _notes(step: StepRecord | OpenStep, ending: tuple[str, str | None] | None) -> str:
    notes = [text for text in (_allowance(step),) if text]
    if ending is not None and ending[0] in ENDING_VI:
        action, reason = ending
        label = ENDING_VI[action]
        notes.append(f"{label}: {reason}" if reason else label)
    text = "; ".join(notes)
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"


def _rows(dossier: Dossier, steps: Sequence[StepRecord | OpenStep],
          endings: dict[int, tuple[str, str | None]]) -> list[list[str]]:
    rows, handed_by = [], dossier.applicant_name or "-"
    for number, step in enumerate(steps, start=1):
        holder = step.holder_name or "-"
        ending = endings.get(step.history_seq) if step.history_seq is not None else None
        rows.append([str(number), STEP_VI.get(step.step, step.step), handed_by, holder,
                     _when(step.handed_over_at or step.started_at), _when(step.due_at), _when(step.ended_at),
                     _outcome(step), _notes(step, ending)])
        handed_by = holder
    return rows


async def _endings(session: AsyncSession, dossier: Dossier,
                   steps: Sequence[StepRecord | OpenStep]) -> dict[int, tuple[str, str | None]]:
    """The action and reason of the history entry that completed each step (one query)."""
    seqs = [s.history_seq for s in steps if s.history_seq is not None]
    if not seqs:
        return {}
    found = await session.execute(select(HistoryEntry.seq, HistoryEntry.action, HistoryEntry.reason)
                                  .where(HistoryEntry.dossier_id == dossier.id, HistoryEntry.seq.in_(seqs)))
    return {seq: (action, reason) for seq, action, reason in found}


def _state_label(dossier: Dossier, facts: VersionFacts) -> str:
    definition = definitions().get(facts.workflow)
    state = definition.states.get(dossier.state) if definition is not None else None
    return f"{state.label} (mã {state.national_code})" if state is not None else dossier.state


async def render_slip(session: AsyncSession, dossier: Dossier, facts: VersionFacts) -> bytes:
    """Form 05 for the dossier as it stands now, as a PDF signed in the agency's name (app.core.pdfsign)."""
    steps, truncated = await whole_slip(session, dossier, facts, limit=MAX_PRINTED_STEPS)
    rows = _rows(dossier, steps, await _endings(session, dossier, steps))
    fields = [("Mã hồ sơ", dossier.code or "-"), ("Thủ tục", dossier.procedure_name or "-"),
              ("Người nộp hồ sơ", dossier.applicant_name or "-"), ("Tiếp nhận lúc", _when(dossier.received_at)),
              ("Hẹn trả kết quả", _when(dossier.due_at)), ("Trạng thái", _state_label(dossier, facts))]
    footer = f"Lập lúc {_when(clock.now())} (giờ Việt Nam)."
    if truncated:
        footer += f" Phiếu in {MAX_PRINTED_STEPS} bước đầu tiên; danh sách đầy đủ: GET /v1/dossiers/{{id}}/steps."
    if not rows:
        rows = [["", "Chưa có bước xử lý nào", "", "", "", "", "", "", ""]]
    agency = dossier.agency_name or ""
    return await issue_pdf(partial(render_table_document, issuer=agency, title=FORM_TITLE, subtitle=FORM_NUMBER,
                                   fields=fields, headings=HEADINGS, rows=rows, col_widths=COLUMN_WIDTHS,
                                   footer=footer), agency_name=agency,
                           agency_signer=await signing_keys.document_signer(session, dossier.agency_code))

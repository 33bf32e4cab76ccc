"""What an outbox event means for the applicant: which message, which notice, and the template's values.

Messages per event: `dossier.submitted` -> submitted; `dossier.status_changed` by action (receive and
confirm_payment -> received, reject -> refused, request_supplement, request_payment, apologise -> apology,
stop -> stopped, withdraw and withdraw_on_request -> withdrawn (the applicant's confirmation),
issue_result -> result_ready, return_result -> returned; a supplement that restarts the clock issues a new
receipt -> received; a payment request with nothing to pay, every line exempted, sends nothing: the receipt
follows at once);
`payment.succeeded` -> payment_received; `payment.refunded` -> payment_refunded; `payment.cancelled` (finance gave
up an online payment) -> payment_cancelled; `payment.failed` (the provider failed or cancelled it, it expired
unfinished, or the provider reported another amount: `amount_mismatch`, worded as such) -> payment_failed: both say
what is still owed when sent, and how to pay again; `complaint.answered` -> complaint_answered (a complaint or
feedback about the dossier was answered: read it, and rate it, in the portal). Internal steps (assign,
appraise, approve) send nothing.

Details come from the workflow's notice (its content is the snapshot the applicant also gets as a PDF: items,
reasons, dates), the dossier, the event and the fees domain. Times are shown in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import LOCAL_TZ
from app.core.outbox import OutboxEvent
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.fees.models import CLOSED_DOSSIER_STATES
from app.workflow import notices as workflow_notices
from app.workflow.models import Notice

ACTIONS = {"receive": "received", "confirm_payment": "received", "reject": "refused",
           "request_supplement": "supplement_requested", "request_payment": "payment_requested",
           "apologise": "apology", "stop": "stopped", "withdraw": "withdrawn",
           "withdraw_on_request": "withdrawn", "issue_result": "result_ready",
           "return_result": "returned"}
NOTICE_OF = {"received": "receipt", "refused": "refusal", "supplement_requested": "supplement_request",
             "payment_requested": "payment_request", "apology": "apology", "stopped": "stop",
             "result_ready": "result", "returned": "returned"}  # a withdrawal issues no notice
DELIVERY = {"vi": {"online": "trực tuyến", "desk": "tại Bộ phận một cửa", "post": "qua dịch vụ bưu chính công ích"},
            "en": {"online": "online", "desk": "at the reception desk", "post": "by public post"}}


def event_time(event: OutboxEvent) -> datetime:
    at = event.payload.get("at")
    return datetime.fromisoformat(at) if isinstance(at, str) else event.created_at


async def find_notice(session: AsyncSession, dossier_id: uuid.UUID, kind: str, at: datetime,
                      *, exact: bool = False) -> Notice | None:
    """The notice of `kind` issued by the transition at `at` (the latest one issued by then)."""
    found = [n for n in await workflow_notices.list_notices(session, dossier_id)
             if n.kind == kind and (n.issued_at == at if exact else n.issued_at <= at)]
    return found[-1] if found else None


async def message_for(session: AsyncSession, event: OutboxEvent) -> tuple[str, Notice | None] | None:
    """(message kind, its notice) for an event, or None when the event means nothing to the applicant."""
    if event.aggregate_type != "dossier":
        return None
    if event.event_type == "dossier.submitted":
        return "submitted", None
    if event.event_type == "payment.succeeded":
        return "payment_received", None
    if event.event_type == "payment.refunded":
        return "payment_refunded", None
    if event.event_type == "payment.cancelled":
        return "payment_cancelled", None
    if event.event_type == "payment.failed":
        return "payment_failed", None
    if event.event_type == "complaint.answered":  # app.complaints: the answer is read (and rated) in the portal
        return "complaint_answered", None
    if event.event_type != "dossier.status_changed":
        return None
    action = str(event.payload.get("action"))
    at = event_time(event)
    if action == "supplement":  # a receipt only when the clock restarted (DOMAIN.md "Time")
        receipt = await find_notice(session, event.aggregate_id, "receipt", at, exact=True)
        return ("received", receipt) if receipt is not None else None
    kind = ACTIONS.get(action)
    if kind is None:
        return None
    if kind == "payment_requested":
        obligation = await _fees(session, event.aggregate_id, "before_processing")
        if obligation is not None and obligation.due == 0:
            return None
    notice_kind = NOTICE_OF.get(kind)
    return kind, await find_notice(session, event.aggregate_id, notice_kind, at) if notice_kind else None


def when(value: str | datetime | None, language: str) -> str:
    """'17:00 ngày 22/01/2025' / '22/01/2025 17:00 (UTC+7)' from a local ISO string or an aware datetime."""
    if not value:
        return "-"
    moment = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(LOCAL_TZ)
    return f"{moment:%H:%M} ngày {moment:%d/%m/%Y}" if language == "vi" else f"{moment:%d/%m/%Y %H:%M} (UTC+7)"


def money(amount: int, language: str) -> str:
    grouped = f"{int(amount):,}"
    return f"{grouped.replace(',', '.')} đồng" if language == "vi" else f"{grouped} VND"


async def _fees(session: AsyncSession, dossier_id: uuid.UUID, stage: str) -> Any:
    from app.fees.obligations import get_obligation

    return await get_obligation(session, dossier_id, stage)


async def context_for(session: AsyncSession, kind: str, language: str, dossier: Dossier, notice: Notice | None,
                      event: OutboxEvent) -> dict[str, Any]:
    """Every value the templates use (all keys always present: templates are rendered with StrictUndefined)."""
    c: dict[str, Any] = dict(notice.content) if notice is not None else {}
    delivery = c.get("delivery") or {}
    method = delivery.get("method") or dossier.delivery_method
    payload = event.payload
    ctx: dict[str, Any] = {
        "lang": language, "code": dossier.code or "-", "procedure_name": dossier.procedure_name,
        "agency_name": dossier.agency_name, "applicant_name": dossier.applicant_name,
        "has_pdf": notice is not None,
        "submitted_at": when(dossier.submitted_at, language),
        "received_at": when(c.get("received_at") or dossier.received_at, language),
        "due_at": when(c.get("due_at") or dossier.due_at, language),
        "delivery_method": DELIVERY[language].get(method, method),
        "delivery_address": delivery.get("address") or dossier.delivery_address,
        "items": [str(i) for i in c.get("items", [])], "reason": c.get("reason"),
        "reasons": [str(r) for r in c.get("reasons", [])],
        "original_due_at": when(c.get("original_due_at") or c.get("previous_due_at"), language),
        "new_due_at": when(c.get("new_due_at") or dossier.due_at, language),
        "result_name": c.get("result_name"), "tracking_number": delivery.get("tracking_number"),
        "returned_at": when(c.get("issued_at") or event_time(event), language),
        "fees": [], "amount": money(0, language), "fees_on_result": None,
        "paid_amount": money(int(payload.get("amount") or 0), language),
        "receipt_number": payload.get("receipt_number"), "settled": bool(payload.get("settled")),
        # Money not counted towards the fees (paid twice, or after the dossier closed) goes back to the payer; only
        # fees due before processing being settled moves an open dossier on.
        "to_refund": payload.get("credited") is False or dossier.state in CLOSED_DOSSIER_STATES,
        "moves_on": payload.get("stage") == "before_processing" and dossier.state not in CLOSED_DOSSIER_STATES,
        "refund_amount": money(int(payload.get("amount") or 0), language), "refund_reason": payload.get("reason"),
        "withdrawn_at": when(event_time(event), language),
        "outcome": payload.get("outcome"), "cancel_reason": payload.get("reason"), "still_owed": None,
        "reported_amount": (money(int(payload["reported_amount"]), language)
                            if payload.get("reported_amount") is not None else None),
        "closed": dossier.state in CLOSED_DOSSIER_STATES,
        "payment_window": get_settings().payment_attempt_ttl_s // 60,
    }
    if kind == "payment_requested":
        ctx["fees"] = [{"name": f.get("name"), "amount": money(int(f.get("amount") or 0), language),
                        "exempt_reason": f.get("exempt_reason")} for f in c.get("fees", [])]
        # What was requested (the notice's lines, exempt ones at 0), not what is owed when the message goes out:
        # sent after a retry, it said 0 đồng for fees paid meanwhile.
        if notice is not None:
            requested = sum(int(f.get("amount") or 0) for f in c.get("fees", []))
        else:
            obligation = await _fees(session, dossier.id, "before_processing")
            requested = obligation.due if obligation is not None else 0
        ctx["amount"] = money(requested, language)
    elif kind in ("payment_cancelled", "payment_failed"):
        # What is owed when the message goes out, not when the attempt ended: fees paid meanwhile (at the desk, or
        # the provider's late success credited) need no second payment.
        obligation = await _fees(session, dossier.id, str(payload.get("stage")))
        if obligation is not None and obligation.balance > 0 and not ctx["closed"]:
            ctx["still_owed"] = money(obligation.balance, language)
    elif kind == "result_ready":
        obligation = await _fees(session, dossier.id, "on_result")
        if obligation is not None and obligation.balance > 0:
            ctx["fees_on_result"] = money(obligation.balance, language)
    return ctx

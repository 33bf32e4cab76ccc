"""Receipts (biên lai) for succeeded payments: one per payment, as JSON or as a printable PDF; each line says
what this payment paid of it (a desk payment may pay part of the fees, another payment the rest)."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import signing_keys
from app.core import clock
from app.core.pdf import render_document
from app.core.pdfsign import issue_pdf
from app.core.problems import not_found
from app.fees.models import AttemptState, FeeObligation, PaymentAttempt
from app.fees.refunds import pending_refunds
from app.fees.schemas import ReceiptAgency, ReceiptLine, ReceiptOut, ReceiptParty


async def receipt_for(session: AsyncSession, attempt: PaymentAttempt, dossier: Any) -> ReceiptOut:
    """The receipt of a succeeded payment: 404 for any other (or a fee obligation gone with its dossier)."""
    obligation = await session.get(FeeObligation, attempt.obligation_id)
    if attempt.state != AttemptState.succeeded or attempt.receipt_number is None or obligation is None:
        raise not_found("receipt")
    shares = [0] * len(obligation.lines)  # money not credited paid no line
    if attempt.credited:
        paid_before = (await session.execute(_CREDITED_BEFORE, {
            "obligation_id": attempt.obligation_id, "completed_at": attempt.completed_at, "id": attempt.id,
        })).scalar_one()
        shares = _shares([line.charged for line in obligation.lines], int(paid_before), attempt.amount)
    # The attempt's `refunded` holds its own refunds still awaiting the provider too: the receipt tells them apart.
    pending = (await pending_refunds(session, [attempt.id])).get((attempt.id, None), 0) if attempt.refunded else 0
    return ReceiptOut(
        receipt_number=attempt.receipt_number, payment_id=attempt.id,
        issued_at=attempt.completed_at or attempt.updated_at, dossier_id=dossier.id, dossier_code=dossier.code,
        procedure_name=dossier.procedure_name,
        payer=ReceiptParty(name=dossier.applicant_name, citizen_id=dossier.applicant_citizen_id,
                           tax_code=dossier.applicant_tax_code),
        agency=ReceiptAgency(code=dossier.agency_code, name=dossier.agency_name),
        lines=[ReceiptLine.model_validate({"kind": line.kind, "name": line.name, "amount": line.amount,
                                           "exempt": line.exempt, "paid": share})
               for line, share in zip(obligation.lines, shares, strict=True)],
        amount=attempt.amount, refunded=attempt.refunded - pending, refund_pending=pending, provider=attempt.provider,
        provider_txn_id=attempt.provider_txn_id)


# What the obligation's credited payments completed before this one paid (ties by id, as in every list).
_CREDITED_BEFORE = select(func.coalesce(func.sum(PaymentAttempt.amount), 0)).where(
    PaymentAttempt.obligation_id == bindparam("obligation_id"), PaymentAttempt.credited.is_(True),
    tuple_(PaymentAttempt.completed_at, PaymentAttempt.id)
    < tuple_(bindparam("completed_at", type_=PaymentAttempt.completed_at.type),
             bindparam("id", type_=PaymentAttempt.id.type)))


def _shares(charged: list[int], paid_before: int, amount: int) -> list[int]:
    """What a payment paid of each line: lines are paid in order, each after what earlier payments paid of it;
    a payment of the whole balance thus pays every line's remainder."""
    shares = []
    for line in charged:
        earlier = min(paid_before, line)
        paid_before -= earlier
        share = min(amount, line - earlier)
        amount -= share
        shares.append(share)
    return shares


def _dong(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đ"


def _refund_fields(receipt: ReceiptOut) -> list[tuple[str, str]]:
    """Refunds, when there are any: given back, and asked of the provider but not confirmed, never added up."""
    return [(label, _dong(amount)) for label, amount in (("Đã hoàn trả", receipt.refunded),
                                                          ("Đang chờ hoàn trả", receipt.refund_pending)) if amount]


async def receipt_pdf(session: AsyncSession, receipt: ReceiptOut) -> bytes:
    """The receipt printed, signed in the collecting agency's name, with its own key if it has one: an electronic
    receipt is valid only signed by the unit that issues it (app.core.pdfsign)."""
    issued = clock.local(receipt.issued_at)
    payer = receipt.payer.name or "-"
    if receipt.payer.citizen_id or receipt.payer.tax_code:
        payer += f" ({receipt.payer.citizen_id or receipt.payer.tax_code})"
    items = [f"{line.name}: {_dong(line.amount)}" + (" (miễn)" if line.exempt else "")
             + (f", nộp lần này {_dong(line.paid)}" if line.paid != line.amount and not line.exempt else "")
             for line in receipt.lines]
    return await issue_pdf(partial(
        render_document, issuer=receipt.agency.name, title="Biên lai thu phí, lệ phí",
        subtitle=f"Số: {receipt.receipt_number}",
        fields=[("Người nộp", payer), ("Hồ sơ", receipt.dossier_code or str(receipt.dossier_id)),
                ("Thủ tục", receipt.procedure_name), ("Số tiền", _dong(receipt.amount)),
                ("Hình thức", "Tại quầy" if receipt.provider == "counter" else f"Trực tuyến ({receipt.provider})"),
                ("Mã giao dịch", receipt.provider_txn_id or "-"), ("Ngày thu", f"{issued:%d/%m/%Y %H:%M}"),
                *_refund_fields(receipt)],
        items=items, footer=f"Cơ quan thu: {receipt.agency.name} ({receipt.agency.code})"),
        agency_name=receipt.agency.name,
        agency_signer=await signing_keys.document_signer(session, receipt.agency.code))

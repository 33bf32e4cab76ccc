"""Receipts (biên lai) for succeeded payments: one per payment, as JSON or as a printable PDF."""

from __future__ import annotations

from typing import Any

from app.core import clock
from app.core.pdf import render_document
from app.core.problems import not_found
from app.fees.models import AttemptState, FeeObligation, PaymentAttempt
from app.fees.schemas import ReceiptAgency, ReceiptLine, ReceiptOut, ReceiptParty


def build_receipt(attempt: PaymentAttempt, obligation: FeeObligation, dossier: Any) -> ReceiptOut:
    if attempt.state != AttemptState.succeeded or attempt.receipt_number is None:
        raise not_found("receipt")
    return ReceiptOut(
        receipt_number=attempt.receipt_number, payment_id=attempt.id,
        issued_at=attempt.completed_at or attempt.updated_at, dossier_id=dossier.id, dossier_code=dossier.code,
        procedure_name=dossier.procedure_name,
        payer=ReceiptParty(name=dossier.applicant_name, citizen_id=dossier.applicant_citizen_id,
                           tax_code=dossier.applicant_tax_code),
        agency=ReceiptAgency(code=dossier.agency_code, name=dossier.agency_name),
        lines=[ReceiptLine.model_validate({"kind": line.kind, "name": line.name, "amount": line.amount,
                                           "exempt": line.exempt})
               for line in obligation.lines],
        amount=attempt.amount, refunded=attempt.refunded, provider=attempt.provider,
        provider_txn_id=attempt.provider_txn_id)


def _dong(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đ"


def receipt_pdf(receipt: ReceiptOut) -> bytes:
    issued = clock.local(receipt.issued_at)
    payer = receipt.payer.name or "-"
    if receipt.payer.citizen_id or receipt.payer.tax_code:
        payer += f" ({receipt.payer.citizen_id or receipt.payer.tax_code})"
    items = [f"{line.name}: {_dong(line.amount)}" + (" (miễn)" if line.exempt else "") for line in receipt.lines]
    return render_document(
        issuer=receipt.agency.name, title="Biên lai thu phí, lệ phí", subtitle=f"Số: {receipt.receipt_number}",
        fields=[("Người nộp", payer), ("Hồ sơ", receipt.dossier_code or str(receipt.dossier_id)),
                ("Thủ tục", receipt.procedure_name), ("Số tiền", _dong(receipt.amount)),
                ("Hình thức", "Tại quầy" if receipt.provider == "counter" else f"Trực tuyến ({receipt.provider})"),
                ("Mã giao dịch", receipt.provider_txn_id or "-"), ("Ngày thu", f"{issued:%d/%m/%Y %H:%M}")],
        items=items, footer=f"Cơ quan thu: {receipt.agency.name} ({receipt.agency.code})")

"""Refunds of a succeeded payment, partial or full, through the provider that took the money.

`expected_available` is the caller's view of what is still refundable; a different value is 409
`refund_amount_mismatch`, so two officials working from the same screen cannot refund the same money twice.
The amount is reserved (attempt and obligation `refunded`) before the provider is asked, and released if the
provider refuses; the database CHECKs keep refunded <= paid whatever happens.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.outbox import emit
from app.core.problems import ProblemError, not_found
from app.fees.models import PaymentAttempt, Refund, RefundState
from app.fees.obligations import lock_obligation
from app.fees.providers import get_provider
from app.fees.providers.base import RefundOrder, RefundResult


async def lock_attempt(session: AsyncSession, attempt_id: uuid.UUID) -> PaymentAttempt:
    stmt = (select(PaymentAttempt).where(PaymentAttempt.id == attempt_id).with_for_update()
            .execution_options(populate_existing=True))
    attempt = (await session.execute(stmt)).scalar_one_or_none()
    if attempt is None:
        raise not_found("payment")
    return attempt


async def _ask_provider(attempt: PaymentAttempt, refund: Refund, *, requested_by: str) -> RefundResult:
    if attempt.provider == "counter":  # cash handed back at the desk
        return RefundResult("succeeded", provider_refund_id=f"CR{refund.id.hex[:16].upper()}")
    provider = get_provider(attempt.provider)
    return await provider.refund(RefundOrder(
        refund_id=refund.id, provider_ref=attempt.provider_ref, txn_id=attempt.provider_txn_id,
        amount=refund.amount, full=refund.amount == attempt.amount, reason=refund.reason,
        paid_at=attempt.completed_at or attempt.created_at, requested_by=requested_by))


async def refund_payment(session: AsyncSession, attempt_id: uuid.UUID, *, amount: int, reason: str,
                         expected_available: int, official_id: uuid.UUID) -> Refund:
    attempt = await lock_attempt(session, attempt_id)
    obligation = await lock_obligation(session, attempt.obligation_id)
    available = attempt.refundable  # 0 unless the payment succeeded
    if expected_available != available:
        raise ProblemError("refund_amount_mismatch",
                           f"{available} đồng is refundable now, not {expected_available}; read the payment again.",
                           extra={"available": available})
    if not 0 < amount <= available:
        raise ProblemError("validation_error", "The refund amount must be positive and at most what is available.",
                           errors=[{"loc": ["body", "amount"], "msg": f"must be between 1 and {available}"}])
    now = clock.now()
    refund = Refund(id=uuid.uuid4(), attempt_id=attempt.id, amount=amount, reason=reason,
                    state=RefundState.submitted.value, requested_by=official_id, created_at=now)
    session.add(refund)
    attempt.refunded += amount
    if attempt.credited:
        obligation.refunded += amount
    await session.flush()
    result = await _ask_provider(attempt, refund, requested_by=str(official_id))
    refund.provider_refund_id = result.provider_refund_id
    if result.state == "failed":
        refund.state, refund.completed_at = RefundState.failed.value, clock.now()
        attempt.refunded -= amount
        if attempt.credited:
            obligation.refunded -= amount
    elif result.state == "succeeded":
        refund.state, refund.completed_at = RefundState.succeeded.value, clock.now()
        await emit(session, "payment.refunded", aggregate_type="dossier", aggregate_id=attempt.dossier_id,
                   payload={"payment_id": str(attempt.id), "refund_id": str(refund.id), "amount": amount,
                            "refunded_total": attempt.refunded, "reason": reason})
    attempt.updated_at = clock.now()
    await session.flush()
    return refund


async def refunds_of(session: AsyncSession, attempt_id: uuid.UUID) -> list[Refund]:
    stmt = select(Refund).where(Refund.attempt_id == attempt_id).order_by(Refund.created_at, Refund.id)
    return list((await session.execute(stmt)).scalars().all())

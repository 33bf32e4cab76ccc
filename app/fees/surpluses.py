"""Surpluses: money a provider reports for an attempt that we do not credit, kept to be given back.

Recorded by the callback path (`callbacks.settle`), under the attempt's row lock and in the transaction that
learns of it, once per (attempt, provider transaction): the news of a transaction already on record is a
duplicate, whatever amount it states (a transaction is applied once, as its first news said). Refunded through
`refunds.refund_payment(..., surplus_id=...)`; the obligation is never touched, the money was never credited.
Each new surplus emits `payment.surplus_recorded` (for finance: a webhook, never a message to the applicant) in
the same transaction; news of one already on record emits nothing.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.outbox import emit
from app.core.problems import not_found
from app.fees.models import PaymentAttempt, PaymentSurplus, SurplusReason

log = logging.getLogger("app.fees.surpluses")


async def _by_txn(session: AsyncSession, attempt_id: uuid.UUID, txn_id: str | None) -> PaymentSurplus | None:
    match = PaymentSurplus.provider_txn_id.is_(None) if txn_id is None else PaymentSurplus.provider_txn_id == txn_id
    stmt = select(PaymentSurplus).where(PaymentSurplus.attempt_id == attempt_id, match).order_by(PaymentSurplus.id)
    return (await session.execute(stmt)).scalars().first()


async def _same_money(session: AsyncSession, attempt_id: uuid.UUID, amount: int,
                      reason: SurplusReason) -> PaymentSurplus | None:
    stmt = select(PaymentSurplus).where(PaymentSurplus.attempt_id == attempt_id, PaymentSurplus.amount == amount,
                                        PaymentSurplus.reason == reason.value).order_by(PaymentSurplus.id)
    return (await session.execute(stmt)).scalars().first()


async def recorded(session: AsyncSession, attempt: PaymentAttempt, txn_id: str | None) -> bool:
    """Is this provider transaction already on record as a surplus of the (locked) attempt? Only an attempt with
    a flag can have one, so the usual first credit costs no query."""
    return attempt.flag is not None and txn_id is not None and await _by_txn(session, attempt.id, txn_id) is not None


async def record(session: AsyncSession, attempt: PaymentAttempt, *, txn_id: str | None, amount: int,
                 reason: SurplusReason) -> bool:
    """Record money the provider took for the (locked) attempt and we do not credit; False when it is on record
    already. A transaction first reported without an id (by reconciliation) and then named by a callback with the
    same amount is the same money: the row takes the id instead of a second row being added; reported without an
    id after a callback named it (same amount and reason), it is on record already."""
    if await _by_txn(session, attempt.id, txn_id) is not None:
        return False
    if txn_id is None and await _same_money(session, attempt.id, amount, reason) is not None:
        # Reconciliation's answer about the order, naming no transaction, after a callback named it: one row.
        return False
    if txn_id is not None:
        unnamed = await _by_txn(session, attempt.id, None)
        if unnamed is not None and unnamed.amount == amount and unnamed.reason == reason.value:
            unnamed.provider_txn_id = txn_id
            return False
    attempt.flag = attempt.flag or reason.value  # an earlier flag stays: the rows keep every surplus
    attempt.updated_at = clock.now()
    surplus = PaymentSurplus(id=uuid.uuid4(), attempt_id=attempt.id, provider_txn_id=txn_id, amount=amount,
                             reason=reason.value, refunded=0, created_at=clock.now())
    session.add(surplus)
    await emit(session, "payment.surplus_recorded", aggregate_type="dossier", aggregate_id=attempt.dossier_id,
               payload={"dossier_id": str(attempt.dossier_id), "payment_id": str(attempt.id),
                        "surplus_id": str(surplus.id), "amount": amount,
                        "provider": attempt.provider, "provider_txn_id": txn_id, "reason": reason.value})
    await session.flush()
    log.warning("payment %s: %s đồng from %s transaction %s not credited (%s); refund it", attempt.id, amount,
                attempt.provider, txn_id, reason.value)
    return True


async def lock_surplus(session: AsyncSession, attempt_id: uuid.UUID, surplus_id: uuid.UUID) -> PaymentSurplus:
    """The attempt's surplus, locked (after the attempt and its obligation: the order every payment path uses);
    404 when it is not this attempt's."""
    stmt = (select(PaymentSurplus).where(PaymentSurplus.id == surplus_id, PaymentSurplus.attempt_id == attempt_id)
            .with_for_update().execution_options(populate_existing=True))
    surplus = (await session.execute(stmt)).scalar_one_or_none()
    if surplus is None:
        raise not_found("surplus")
    return surplus

"""Refunds of a succeeded payment, partial or full, through the provider that took the money; and of a surplus
(money the provider reported for the payment that was never credited: app.fees.surpluses), the same way.

`expected_available` is the caller's view of what is still refundable; a different value is 409
`refund_amount_mismatch`, so two officials working from the same screen cannot refund the same money twice.
The amount is reserved (attempt and obligation `refunded`, a `submitted` refund row) and committed before the
provider is asked, and released if the provider refuses; the database CHECKs keep refunded <= paid whatever
happens. A refund of a surplus reserves on that surplus's `refunded` alone (CHECK refunded <= amount) and names
the surplus's transaction to the provider; the obligation does not move.

A refund whose answer was lost is asked again by reconciliation with the same refund id, when the provider
de-duplicates refunds by that id (`refunds_idempotent`); otherwise it waits for finance, who checks with the
provider and records the outcome (`resolve_refund`: who, and a note, kept on the refund).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.outbox import emit
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found
from app.core.settings import get_settings
from app.fees.models import FeeObligation, PaymentAttempt, PaymentSurplus, Refund, RefundState
from app.fees.obligations import lock_obligation
from app.fees.providers import get_provider
from app.fees.providers.base import RefundOrder, RefundResult
from app.fees.surpluses import lock_surplus

log = logging.getLogger(__name__)


async def lock_attempt(session: AsyncSession, attempt_id: uuid.UUID) -> PaymentAttempt:
    stmt = (select(PaymentAttempt).where(PaymentAttempt.id == attempt_id).with_for_update()
            .execution_options(populate_existing=True))
    attempt = (await session.execute(stmt)).scalar_one_or_none()
    if attempt is None:
        raise not_found("payment")
    return attempt


async def pending_refunds(session: AsyncSession,
                          attempt_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, uuid.UUID | None], int]:
    """Refunds awaiting the provider, summed per (payment, surplus or None for the payment's own money): what of
    a payment's or a surplus's `refunded` is reserved, not given back yet."""
    if not attempt_ids:
        return {}
    stmt = (select(Refund.attempt_id, Refund.surplus_id, func.sum(Refund.amount))
            .where(Refund.attempt_id.in_(attempt_ids), Refund.state == RefundState.submitted.value)
            .group_by(Refund.attempt_id, Refund.surplus_id))
    return {(attempt_id, surplus_id): int(total)
            for attempt_id, surplus_id, total in (await session.execute(stmt)).all()}


def asked_again(attempt: PaymentAttempt) -> bool:
    """Does reconciliation ask this payment's provider again about a refund left `submitted`? Only one that
    de-duplicates refunds by our refund id (asking again cannot move the money twice); desk refunds never."""
    return attempt.provider != "counter" and get_provider(attempt.provider).refunds_idempotent


async def ask_provider(attempt: PaymentAttempt, refund: Refund, *, requested_by: str,
                       surplus: PaymentSurplus | None = None) -> RefundResult:
    """Ask the provider to give back the refund's money, from the transaction it came from: the surplus's when
    the refund draws on one, else the payment's own."""
    if attempt.provider == "counter":  # cash handed back at the desk
        return RefundResult("succeeded", provider_refund_id=f"CR{refund.id.hex[:16].upper()}")
    provider = get_provider(attempt.provider)
    txn_id, taken = (attempt.provider_txn_id, attempt.amount) if surplus is None else (surplus.provider_txn_id,
                                                                                       surplus.amount)
    return await provider.refund(RefundOrder(
        refund_id=refund.id, provider_ref=attempt.provider_ref, txn_id=txn_id,
        amount=refund.amount, full=refund.amount == taken, reason=refund.reason,
        ordered_at=attempt.created_at, requested_by=requested_by))


async def refund_payment(session: AsyncSession, attempt_id: uuid.UUID, *, amount: int, reason: str,
                         expected_available: int, official_id: uuid.UUID,
                         surplus_id: uuid.UUID | None = None) -> Refund:
    """Reserve, commit, ask the provider, record: three steps, two transactions.

    The reservation (a `submitted` refund holding its amount) is committed before the provider moves any money,
    and no row lock is held while it is asked. Whatever happens next (the provider's answer lost, the process
    killed, the database gone), the record exists and the amount stays reserved, so nobody can refund the same
    money again; an unknown outcome stays `submitted` for an operator. The caller's session is committed here;
    the answer is recorded in its next transaction, which the caller commits. With `surplus_id`, the refund
    draws on that surplus of the payment (404 when it has none such) instead of the payment's own money.
    """
    refund, attempt, surplus = await _reserve(session, attempt_id, amount=amount, reason=reason,
                                              expected_available=expected_available, official_id=official_id,
                                              surplus_id=surplus_id)
    await session.commit()
    result = await ask_provider(attempt, refund, requested_by=str(official_id), surplus=surplus)
    return await record_answer(session, attempt.id, refund.id, result)


async def _reserve(session: AsyncSession, attempt_id: uuid.UUID, *, amount: int, reason: str,
                   expected_available: int, official_id: uuid.UUID,
                   surplus_id: uuid.UUID | None) -> tuple[Refund, PaymentAttempt, PaymentSurplus | None]:
    attempt = await lock_attempt(session, attempt_id)
    obligation = await lock_obligation(session, attempt.obligation_id)
    surplus = None if surplus_id is None else await lock_surplus(session, attempt.id, surplus_id)
    # The payment's own money (0 unless it succeeded), or what is left of the surplus.
    available = attempt.refundable if surplus is None else surplus.refundable
    if expected_available != available:
        raise ProblemError("refund_amount_mismatch",
                           f"{available} đồng is refundable now, not {expected_available}; read the payment again.",
                           extra={"available": available})
    if not 0 < amount <= available:
        raise ProblemError("validation_error", "The refund amount must be positive and at most what is available.",
                           errors=[{"loc": ["body", "amount"], "msg": f"must be between 1 and {available}"}])
    refund = Refund(id=uuid.uuid4(), attempt_id=attempt.id, surplus_id=surplus_id, amount=amount, reason=reason,
                    state=RefundState.submitted.value, requested_by=official_id, created_at=clock.now())
    session.add(refund)
    _draw(attempt, obligation, surplus, amount)
    attempt.updated_at = clock.now()
    await session.flush()
    return refund, attempt, surplus


def _draw(attempt: PaymentAttempt, obligation: FeeObligation, surplus: PaymentSurplus | None, amount: int) -> None:
    """Reserve (amount > 0) or release (amount < 0) a refund's money where it comes from: a surplus alone (never
    credited), or the payment, and its obligation when the payment was credited."""
    if surplus is not None:
        surplus.refunded += amount
        return
    attempt.refunded += amount
    if attempt.credited:
        obligation.refunded += amount


async def resolve_refund(session: AsyncSession, attempt_id: uuid.UUID, refund_id: uuid.UUID, *,
                         outcome: Literal["succeeded", "failed"], note: str, provider_refund_id: str | None,
                         official_id: uuid.UUID) -> Refund:
    """Finance records the outcome of a refund the provider never answered (checked with the provider by other
    means): as the provider's answer would be recorded, with who and why. 409 `refund_not_pending` once the refund
    has an outcome (the provider's, reconciliation's or another official's); 409 `refund_awaiting_provider` while
    its answer may still come: before reconciliation's wait (the request may be in flight), and whenever the
    provider de-duplicates refunds by our id, since reconciliation then asks it again and records its answer
    (finance's outcome and the provider's could disagree: money moved while recorded as not)."""
    await _check_unanswerable(session, attempt_id, refund_id)
    refund = await record_answer(session, attempt_id, refund_id, RefundResult(outcome, provider_refund_id),
                                 pending_only=True)
    refund.resolved_by, refund.resolution_note = official_id, note
    await session.flush()
    return refund


async def _check_unanswerable(session: AsyncSession, attempt_id: uuid.UUID, refund_id: uuid.UUID) -> None:
    refund = await session.get(Refund, refund_id)
    attempt = await session.get(PaymentAttempt, attempt_id)
    if refund is None or attempt is None or refund.state != RefundState.submitted.value:
        return  # record_answer says so, under the locks
    if asked_again(attempt):
        raise ProblemError("refund_awaiting_provider", f"{attempt.provider} is asked again by reconciliation, "
                           "which records its answer; nothing to resolve by hand.")
    wait = get_settings().payment_reconcile_after_s
    if refund.created_at > clock.now() - timedelta(seconds=wait):
        raise ProblemError("refund_awaiting_provider", f"The provider may still answer; resolve a refund only "
                           f"{wait} seconds after it was asked for.", extra={"retry_after_s": wait})


async def record_answer(session: AsyncSession, attempt_id: uuid.UUID, refund_id: uuid.UUID,
                        result: RefundResult, *, pending_only: bool = False) -> Refund:
    """The provider's answer on the reserved refund: a failure releases the amount, a success is announced.
    Rows are locked in the order every payment path uses: attempt, obligation, then the refund (and the surplus
    it draws on). A refund already settled (by another reconciler asking the same provider) is left as it is:
    recorded once; with `pending_only`, that is 409 `refund_not_pending`."""
    attempt = await lock_attempt(session, attempt_id)
    obligation = await lock_obligation(session, attempt.obligation_id)
    refund = (await session.execute(select(Refund).where(Refund.id == refund_id).with_for_update()
                                    .execution_options(populate_existing=True))).scalar_one()
    surplus = None if refund.surplus_id is None else await lock_surplus(session, attempt.id, refund.surplus_id)
    if result.state == "submitted":
        log.warning("refund %s: outcome unknown at %s; kept submitted, amount reserved", refund.id, attempt.provider)
        return refund
    if refund.state != RefundState.submitted.value:  # recorded meanwhile by another reconciler
        if pending_only:
            raise ProblemError("refund_not_pending", f"The refund is {refund.state} already.",
                               extra={"state": refund.state})
        return refund
    refund.provider_refund_id = result.provider_refund_id
    if result.state == "failed":
        refund.state, refund.completed_at = RefundState.failed.value, clock.now()
        _draw(attempt, obligation, surplus, -refund.amount)
    elif result.state == "succeeded":
        refund.state, refund.completed_at = RefundState.succeeded.value, clock.now()
        # refunded_total: what the refund's source (the payment's own money, or the surplus) has given back.
        await emit(session, "payment.refunded", aggregate_type="dossier", aggregate_id=attempt.dossier_id,
                   payload={"dossier_id": str(attempt.dossier_id), "payment_id": str(attempt.id),
                            "refund_id": str(refund.id), "amount": refund.amount,
                            "refunded_total": attempt.refunded if surplus is None else surplus.refunded,
                            "surplus_id": None if surplus is None else str(surplus.id), "reason": refund.reason})
    attempt.updated_at = clock.now()
    await session.flush()
    return refund


_OLDEST_FIRST = ((Refund.created_at, False), (Refund.id, False))


async def refunds_of(session: AsyncSession, attempt_id: uuid.UUID,
                     page: PageParams) -> tuple[list[Refund], str | None]:
    """A page of the payment's refunds, oldest first (partial refunds can add up to many rows)."""
    stmt = select(Refund).where(Refund.attempt_id == attempt_id)
    return await keyset_page(session, stmt, order=_OLDEST_FIRST, params=page, key=lambda r: (r.created_at, r.id))


async def get_refund(session: AsyncSession, attempt_id: uuid.UUID, refund_id: uuid.UUID) -> Refund | None:
    stmt = select(Refund).where(Refund.id == refund_id, Refund.attempt_id == attempt_id)
    return (await session.execute(stmt)).scalar_one_or_none()

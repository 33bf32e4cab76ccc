"""What the provider says happened to an order, applied once: from a signed callback or from reconciliation.

Rules (so that duplicate, late and out-of-order news never double-credits):
- every step runs with the attempt row locked, and the state is re-read under the lock;
- a success is money that moved: it wins over an earlier `failed`/`cancelled`/`expired` (out of order or late)
  and is credited if the obligation still owes it, else recorded as an overpayment to refund;
- a success for an attempt already succeeded with the same transaction is a duplicate (nothing happens);
- the checks run in the order of VNPAY's IPN sample (vnpay_php/vnpay_ipn.php: signature, order exists, amount,
  order already confirmed), so the amount is compared before anything about the attempt's state is concluded;
- a reported amount that differs from the attempt's is flagged, never credited, and the money is kept as a
  surplus to refund (app.fees.surpluses); so is a second transaction on an attempt already succeeded. Failure or
  held-money news with another amount is flagged and not applied (a callback; reconciliation settles the attempt);
- a transaction is applied once, as its first news said: news of a transaction on record as a surplus changes
  nothing, and is answered as a duplicate when it states the order's amount, as a mismatch when not;
- news that the provider holds the money (`processing`) makes a live attempt `submitted`, like reconciliation;
- failure news only ends a live attempt; after a final state it is ignored (and an attempt it ends is still asked
  about by reconciliation: the payer may pay the order after a declined try, and that callback may be lost);
- a real provider gets every answer in its own form: when applying its news fails on our side, nothing is kept
  and it is answered as malformed (it retries, or reconciliation settles the attempt).
A credit that settles the fees due before processing moves the dossier payment_requested -> received
(`confirm_payment`) in the same transaction.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.outbox import emit
from app.core.problems import ProblemError
from app.core.text import storable_text
from app.fees import surpluses
from app.fees.models import (
    CLOSED_DOSSIER_STATES,
    LIVE_STATES,
    AttemptState,
    FeeObligation,
    PaymentAttempt,
    PaymentCallback,
    Stage,
    SurplusReason,
)
from app.fees.obligations import credit, lock_dossier_state, lock_obligation
from app.fees.providers.base import CallbackEvent, CallbackOutcome, CallbackRejected, CallbackRequest, PaymentProvider

log = logging.getLogger("app.fees.callbacks")


def receipt_number(attempt: PaymentAttempt) -> str:
    return f"BL-{clock.local(clock.now()):%y%m%d}-{attempt.id.hex[:10].upper()}"


# The numbers receipt_number() issues. A desk receipt typed in this shape could take the number an online payment
# will get when it succeeds (its id is known before); that payment could then never be recorded.
ISSUED_RECEIPT = re.compile(r"BL-\d{6}-[0-9A-F]{10}", re.IGNORECASE)


# Statements of the callback path, built once and run with parameters (providers call back a lot, and
# building a statement cost more than running it).
_BY_REF = (PaymentAttempt.provider == bindparam("provider")) & (PaymentAttempt.provider_ref == bindparam("ref"))
_ATTEMPT_BY_REF = select(PaymentAttempt.id, PaymentAttempt.state, PaymentAttempt.provider_txn_id,
                         PaymentAttempt.amount).where(_BY_REF)
_LOCK_ATTEMPT_BY_REF = (select(PaymentAttempt).where(_BY_REF).with_for_update()
                        .execution_options(populate_existing=True))
_RECORD_CALLBACK = insert(PaymentCallback).values({name: bindparam(name) for name in (
    "provider", "provider_ref", "provider_txn_id", "attempt_id", "status", "amount", "outcome", "payload",
    "received_at")})


async def lock_attempt_by_ref(session: AsyncSession, provider: str, provider_ref: str) -> PaymentAttempt | None:
    result = await session.execute(_LOCK_ATTEMPT_BY_REF, {"provider": provider, "ref": provider_ref})
    return result.scalar_one_or_none()


async def _confirm_dossier(session: AsyncSession, obligation: FeeObligation, attempt: PaymentAttempt,
                           state: str | None) -> None:
    """Fees before processing are settled: the dossier is received (step 2.3 ends), in this transaction."""
    if obligation.stage != Stage.before_processing or obligation.paid < obligation.due or state != "payment_requested":
        return
    from app.workflow.transitions import apply_system_action

    try:
        await apply_system_action(session, obligation.dossier_id, "confirm_payment",
                                  details={"payment_id": str(attempt.id), "receipt_number": attempt.receipt_number,
                                           "amount": attempt.amount, "provider": attempt.provider})
    except ProblemError as error:
        if error.code != "workflow_unavailable":
            raise
        # The money is credited whatever the dossier's workflow: a refused callback would be retried forever.
        log.warning("payment %s credited; dossier %s stays payment_requested: %s", attempt.id,
                    obligation.dossier_id, error.detail)


async def record_success(session: AsyncSession, attempt: PaymentAttempt, txn_id: str | None) -> CallbackOutcome:
    """Mark the (locked) attempt succeeded and credit it; shared by callbacks, reconciliation and the desk."""
    now = clock.now()
    obligation = await lock_obligation(session, attempt.obligation_id)
    attempt.state = AttemptState.succeeded.value
    attempt.provider_txn_id = attempt.provider_txn_id or txn_id
    attempt.completed_at = attempt.updated_at = now
    attempt.receipt_number = attempt.receipt_number or receipt_number(attempt)
    credited = credit(obligation, attempt)
    # Locked: read without the lock, a withdrawal committed in between made confirm_payment refuse (409) and the
    # credit roll back with it.
    state = await lock_dossier_state(session, obligation.dossier_id)
    if not credited:
        attempt.flag = "overpayment"  # the money arrived after the obligation was paid: refund it
    elif state in CLOSED_DOSSIER_STATES:
        attempt.flag = "dossier_closed"  # paid while the dossier was withdrawn, refused or stopped: refund it
    await session.flush()
    await emit(session, "payment.succeeded", aggregate_type="dossier", aggregate_id=attempt.dossier_id,
               payload={"dossier_id": str(attempt.dossier_id), "payment_id": str(attempt.id),
                        "obligation_id": str(obligation.id),
                        "stage": obligation.stage, "amount": attempt.amount, "provider": attempt.provider,
                        "receipt_number": attempt.receipt_number, "credited": credited,
                        "settled": obligation.paid >= obligation.due})
    if credited:
        await _confirm_dossier(session, obligation, attempt, state)
    return "credited" if credited else "overpayment"


async def settle(session: AsyncSession, attempt: PaymentAttempt, *, status: str, txn_id: str | None,
                 amount: int | None) -> CallbackOutcome:
    """Apply the provider's news to a locked attempt (see the module docstring for the rules)."""
    if status == "succeeded":
        known = await surpluses.recorded(session, attempt, txn_id)  # on record already, as money to give back
        if amount is not None and amount != attempt.amount:
            # The amount is checked before "already confirmed" (VNPAY's order): a retry of a mismatch is answered as
            # the first was, and changes nothing.
            return "amount_mismatch" if known else await _amount_mismatch(session, attempt, txn_id, amount)
        if known:
            return "duplicate"
        if attempt.state == AttemptState.succeeded:
            if txn_id is None or attempt.provider_txn_id in (None, txn_id):
                return "duplicate"
            # The payer paid the same order twice: the second transaction's money is kept to refund.
            added = await surpluses.record(session, attempt, txn_id=txn_id, amount=attempt.amount,
                                           reason=SurplusReason.second_transaction)
            return "overpayment" if added else "duplicate"
        return await record_success(session, attempt, txn_id)
    if not attempt.live:
        # Not a confirmation that no money moved: it may be a declined try delivered late, its order paid on the
        # next try (that callback lost); only the provider's answer about the order stops reconciliation asking.
        return "ignored"
    if status == "processing":
        # The payer's money is taken and held by the provider: no failure (the payer must not pay again), not yet
        # a credit; `submitted` is not expired on our clock, and reconciliation asks until the provider settles.
        attempt.state, attempt.updated_at = AttemptState.submitted.value, clock.now()
        return "recorded"
    attempt.state = AttemptState.cancelled.value if status == "cancelled" else AttemptState.failed.value
    attempt.completed_at = attempt.updated_at = clock.now()
    await emit_ended_unpaid(session, attempt, attempt.state)
    return "recorded"


async def emit_ended_unpaid(session: AsyncSession, attempt: PaymentAttempt, outcome: str, *,
                            reported_amount: int | None = None) -> None:
    """`payment.failed`, in the transaction that ends a live online attempt without money on the provider's word
    (`failed`, `cancelled`) or on our clock (`expired`, by reconciliation): the applicant is told the fees are still
    owed, so that they pay again, and integrators that the fees may be paid another way. Finance's own cancellation
    emits `payment.cancelled` instead (app.fees.cancel); an attempt expired because a new payment is being made
    (app.fees.payments.expire_stale) emits nothing: its payer is paying already. `amount_mismatch`: the provider
    reported another amount (`reported_amount`) than the attempt's; any money taken is a surplus, to refund."""
    obligation = await session.get_one(FeeObligation, attempt.obligation_id)
    await emit(session, "payment.failed", aggregate_type="dossier", aggregate_id=attempt.dossier_id,
               payload={"dossier_id": str(attempt.dossier_id), "payment_id": str(attempt.id),
                        "obligation_id": str(obligation.id), "stage": obligation.stage, "amount": attempt.amount,
                        "provider": attempt.provider, "outcome": outcome, "reported_amount": reported_amount})


async def _amount_mismatch(session: AsyncSession, attempt: PaymentAttempt, txn_id: str | None,
                           amount: int) -> CallbackOutcome:
    """Another amount than the order's is never credited: a live attempt fails, and the money is a surplus to
    refund. Not when the transaction is the one this attempt was credited with (its own refundable covers it),
    nor when no representable money moved (VNPAY's -1: not whole đồng, or beyond any fee; its callback is kept)."""
    now = clock.now()
    own = attempt.state == AttemptState.succeeded and attempt.provider_txn_id in (None, txn_id)
    if amount > 0 and not own and not await surpluses.record(session, attempt, txn_id=txn_id, amount=amount,
                                                             reason=SurplusReason.amount_mismatch):
        return "amount_mismatch"  # this money is on record already: nothing more happens
    attempt.flag = attempt.flag or "amount_mismatch"
    if attempt.reported_amount is None:
        attempt.reported_amount = amount
    if attempt.live:
        attempt.state, attempt.completed_at = AttemptState.failed.value, now
        # Not "declined": the payer may have been charged (another amount). VNPAY's -1 (no representable amount)
        # is announced without one.
        await emit_ended_unpaid(session, attempt, "amount_mismatch", reported_amount=amount if amount >= 0 else None)
    attempt.updated_at = now
    log.warning("payment %s: provider reported %s, attempt is %s", attempt.id, amount, attempt.amount)
    return "amount_mismatch"


async def handle_callback(session: AsyncSession, provider: PaymentProvider,
                          request: CallbackRequest) -> tuple[CallbackOutcome, CallbackEvent | None]:
    try:
        event = provider.verify_callback(request)
    except CallbackRejected as rejected:
        log.warning("%s callback rejected: %s", provider.name, rejected.detail)
        return rejected.reason, None
    try:
        return await _apply_event(session, provider, event), event
    except (ProblemError, DBAPIError):
        if provider.answers_with_problems:
            raise
        # A real provider understands only its own answer form: nothing of this callback is kept (rolled back),
        # and the provider is told "unknown error", so it retries or is settled by reconciliation.
        log.exception("%s callback for %s could not be applied", provider.name, event.provider_ref)
        await session.rollback()
        return "malformed", event


async def _apply_event(session: AsyncSession, provider: PaymentProvider, event: CallbackEvent) -> CallbackOutcome:
    attempt_id, outcome = await _settled_already(session, provider.name, event)
    if outcome is None:
        attempt = await lock_attempt_by_ref(session, provider.name, event.provider_ref)
        attempt_id = attempt.id if attempt else None
        if attempt is None:
            outcome = "unknown_order"
        elif event.status != "succeeded" and event.amount != attempt.amount:
            outcome = _mismatched_news(attempt, event)
        else:
            outcome = await settle(session, attempt, status=event.status, txn_id=event.txn_id, amount=event.amount)
    await session.execute(_RECORD_CALLBACK, {
        "provider": provider.name, "provider_ref": event.provider_ref, "provider_txn_id": event.txn_id,
        "attempt_id": attempt_id, "status": event.status, "amount": event.amount, "outcome": outcome,
        "payload": _jsonable(event.raw), "received_at": clock.now()})
    return outcome


def _mismatched_news(attempt: PaymentAttempt, event: CallbackEvent) -> CallbackOutcome:
    """Failure or held-money news stating another amount than the attempt's: VNPAY's IPN sample answers "04" and
    leaves the order as it is. The attempt is flagged for finance and keeps its state (no money to record: none
    was taken at that amount); reconciliation's answer about the order settles it."""
    attempt.flag = attempt.flag or "amount_mismatch"
    if attempt.reported_amount is None:
        attempt.reported_amount = event.amount
    attempt.updated_at = clock.now()
    log.warning("payment %s: %s news for %s, attempt is %s; not applied", attempt.id, event.status, event.amount,
                attempt.amount)
    return "amount_mismatch"


async def _settled_already(session: AsyncSession, provider: str,
                           event: CallbackEvent) -> tuple[uuid.UUID | None, CallbackOutcome | None]:
    """Retries of news already applied, answered without taking the attempt's row lock (a provider retries a
    lot, and they would all queue on one row). Safe because the states read here are final: a succeeded
    attempt never changes again for the same transaction, and failure news about a finished attempt is
    ignored whatever happens to it later."""
    row = (await session.execute(_ATTEMPT_BY_REF, {"provider": provider, "ref": event.provider_ref})).first()
    if row is None:
        return None, None
    if (event.status == "succeeded" and row.state == AttemptState.succeeded and row.provider_txn_id == event.txn_id
            and row.amount == event.amount):
        return row.id, "duplicate"
    if event.status != "succeeded" and row.state not in LIVE_STATES and row.amount == event.amount:
        return row.id, "ignored"  # another amount is answered as a mismatch, under the lock
    return row.id, None


def _jsonable(raw: dict[str, Any]) -> dict[str, Any]:
    """The callback's fields as received, in a form every database stores. Fields we do not read may carry a NUL or a
    lone surrogate, or a number beyond a float (1e400 reads as infinity, which JSON has no word for): PostgreSQL
    refused the record (a 422 for fakepay, a "99" for VNPAY, so a paid attempt was never credited from its callback)
    while SQLite stored it. Such text is kept escaped, such a number as its text."""
    return {storable_text(str(k)): _storable(v) for k, v in raw.items()}


def _storable(value: Any) -> Any:
    if isinstance(value, bool | int | type(None)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return storable_text(value if isinstance(value, str) else str(value))

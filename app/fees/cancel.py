"""A finance official gives up an online payment that will not finish, so that the dossier can be paid another way.

An attempt the provider calls `submitted` (the payer has paid, the provider never settles) stays live on our clock
forever (app.fees.payments.expire_stale): nothing else may then be paid for the fees. Cancelling it never loses
or double-credits money:
- the provider is asked first, with no transaction open (no row lock, nor SQLite's write lock, is held while it
  answers); unreachable: 503 `payment_provider_unavailable`, nothing changed;
- its answer is then applied with the attempt's row locked and its state re-read, in the order every payment path
  locks (attempt, obligation, dossier): a success is settled as a callback's (`settle`: credited if still owed,
  else flagged for a refund; a duplicate of one already applied changes nothing) and answered 409
  `payment_succeeded`, committed first; a failure or cancellation is recorded as the provider says;
- pending, still settling, or nothing to conclude: the attempt is `cancelled` here, with who and why. Its provider
  reference stays, so a success the provider reports later (a callback, or reconciliation, which keeps asking for
  a day after the cancellation) takes the late-success path: credited if still owed, else kept for a refund.
An attempt that ended meanwhile (a callback or reconciliation got there first) is 409 `payment_succeeded` when it
was paid, else `payment_not_live`; desk payments are not cancelled (they are refunded).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.outbox import emit
from app.core.problems import ProblemError, not_found
from app.fees.models import AttemptState, FeeObligation, PaymentAttempt
from app.fees.providers import get_provider
from app.fees.providers.base import ProviderError, ProviderStatus
from app.fees.reconcile import FINAL_ANSWERS, apply_final_answer
from app.fees.refunds import lock_attempt

log = logging.getLogger("app.fees.cancel")

def _succeeded(attempt: PaymentAttempt) -> ProblemError:
    return ProblemError("payment_succeeded", "The provider reports this payment paid; it was recorded as paid, and "
                        "is refunded, not cancelled.", extra={"payment_id": str(attempt.id),
                                                             "credited": attempt.credited})


def _not_live(attempt: PaymentAttempt) -> ProblemError:
    return ProblemError("payment_not_live", f"The payment has ended ({attempt.state}); there is nothing to cancel.",
                        extra={"payment_id": str(attempt.id), "state": attempt.state})


def _check_cancellable(attempt: PaymentAttempt) -> None:
    if attempt.provider == "counter":
        raise ProblemError("payment_not_cancellable", "A desk payment is refunded, not cancelled.",
                           extra={"payment_id": str(attempt.id)})
    if attempt.state == AttemptState.succeeded:
        raise _succeeded(attempt)
    if not attempt.live:
        raise _not_live(attempt)


async def _ask(attempt: PaymentAttempt) -> ProviderStatus:
    try:
        return await get_provider(attempt.provider).status(attempt.provider_ref, attempt.created_at)
    except ProviderError as error:
        raise ProblemError("payment_provider_unavailable",
                           f"The payment provider could not say what became of the payment: {error}") from None
    except Exception:  # an answer the adapter could not handle: nothing can be concluded, nothing is changed
        log.exception("cancel: %s status of %s", attempt.provider, attempt.provider_ref)
        raise ProblemError("payment_provider_unavailable",
                           "The payment provider's answer could not be read.") from None


async def cancel_payment(session: AsyncSession, attempt_id: uuid.UUID, *, official_id: uuid.UUID,
                         reason: str) -> PaymentAttempt:
    """Give up a live online attempt (the caller checked the official sees it). Commits the session before asking
    the provider, and before answering 409 `payment_succeeded` (the credit it settled is kept)."""
    attempt = await session.get(PaymentAttempt, attempt_id)
    if attempt is None:
        raise not_found("payment")
    _check_cancellable(attempt)
    await session.commit()  # ends the read's transaction: nothing is held while the provider answers
    status = await _ask(attempt)
    attempt = await lock_attempt(session, attempt_id)
    if status.state in FINAL_ANSWERS:
        return await _apply_news(session, attempt, status, official_id)
    _check_cancellable(attempt)  # a callback or reconciliation may have ended it while the provider was asked
    now = clock.now()
    attempt.state, attempt.completed_at, attempt.updated_at = AttemptState.cancelled.value, now, now
    attempt.cancelled_by, attempt.cancel_reason = official_id, reason
    await session.flush()
    await _emit_cancelled(session, attempt)
    log.info("payment %s cancelled by %s (provider said %s)", attempt.id, official_id, status.state)
    return attempt


async def _emit_cancelled(session: AsyncSession, attempt: PaymentAttempt) -> None:
    """`payment.cancelled`, in the cancel's transaction: integrators (webhooks) learn that the dossier's fees may
    now be paid another way, and the applicant is told. Shaped as the other payment events; only finance's own
    cancellation emits it (an attempt the provider reports failed or cancelled, here or elsewhere, emits
    `payment.failed`: app.fees.callbacks.emit_ended_unpaid)."""
    obligation = await session.get_one(FeeObligation, attempt.obligation_id)
    await emit(session, "payment.cancelled", aggregate_type="dossier", aggregate_id=attempt.dossier_id,
               payload={"dossier_id": str(attempt.dossier_id), "payment_id": str(attempt.id),
                        "obligation_id": str(obligation.id), "stage": obligation.stage, "amount": attempt.amount,
                        "provider": attempt.provider, "cancelled_by": str(attempt.cancelled_by),
                        "reason": attempt.cancel_reason})


async def _apply_news(session: AsyncSession, attempt: PaymentAttempt, status: ProviderStatus,
                      official_id: uuid.UUID) -> PaymentAttempt:
    """The provider's final word, applied as reconciliation applies it (and kept in the callback log)."""
    was_live = attempt.live
    await apply_final_answer(session, attempt, status, {"source": "cancel", "official": str(official_id)})
    await session.flush()
    if attempt.state == AttemptState.succeeded:
        await session.commit()  # the credit stands whatever the answer: a refused request rolls back
        raise _succeeded(attempt)
    if not was_live:
        await session.commit()  # a surplus it reported, or the confirmation, is kept
        raise _not_live(attempt)
    return attempt

"""Reconciliation: ask the provider about attempts whose callback never came, settle them, expire old ones;
and report refunds whose outcome is unknown.

An attempt that ended without money (expired on our clock alone, past its 90 minutes, here or when a new payment
was asked for; or failed or cancelled by a callback) may still have taken the payer's money: a callback's failure
may be one declined try on an order the payer then paid, its success callback lost. The provider is asked about
it, once per wait, until its answer about the order says no money moved once the order can no longer be paid (the
attempt past its expiry: the end is then confirmed), or for a day after the expiry; a success it reports is
settled like a late callback (credited, or flagged for a refund when the fees were paid another way meanwhile).
An attempt the provider says it is still settling (`submitted`: the payer has paid) is not expired on our clock;
finance may give it up (app.fees.cancel), and it is then asked about for a day after that.

Run by `dvc payments reconcile` and periodically by `dvc worker`. Safe next to callbacks and next to another
reconciler: the provider is asked outside any transaction, then each attempt is settled in its own short
transaction with its row locked (SKIP LOCKED on PostgreSQL, so two reconcilers split the work; SQLite's
BEGIN IMMEDIATE serialises writers) and its state re-read under the lock, so only live attempts change.

A refund still `submitted` after the same wait (the provider's answer was lost, or the process died before or
after asking) keeps its amount reserved, so it is never refunded twice. When its provider de-duplicates refunds
by our refund id (`refunds_idempotent`), it is asked again with the same id and the answer recorded (once, under
the row locks, whoever asks); otherwise, or while the answer stays unknown, it is counted and logged with its id
for finance to settle with the provider and record (POST /v1/payments/{id}/refunds/{refund_id}/resolution).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import get_database
from app.core.settings import get_settings
from app.fees.callbacks import emit_ended_unpaid, settle
from app.fees.models import (
    LIVE_STATES,
    AttemptState,
    PaymentAttempt,
    PaymentCallback,
    PaymentSurplus,
    Refund,
    RefundState,
)
from app.fees.providers import get_provider
from app.fees.providers.base import ProviderError, ProviderStatus
from app.fees.refunds import ask_provider, asked_again, record_answer

log = logging.getLogger("app.fees.reconcile")


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    expired: int = 0
    unchanged: int = 0
    errors: int = 0
    refunds_settled: int = 0  # submitted refunds asked again (same refund id) and now succeeded or failed
    refunds_unresolved: int = 0  # submitted refunds older than the wait: amount reserved, outcome unknown


EXPIRED_RECHECK = timedelta(days=1)  # how long after its expiry an unconfirmed attempt is still asked about


# Attempts that ended without money on our side; the provider may still have taken it (see the docstring).
ENDED_UNPAID = (AttemptState.expired.value, AttemptState.failed.value, AttemptState.cancelled.value)


def _unsettled(now: datetime) -> ColumnElement[bool]:
    """Live, or ended unpaid (ENDED_UNPAID) without the provider's confirmation within a day of the expiry, or of
    its cancellation by finance (app.fees.cancel: an attempt the provider kept `submitted` may be days past its
    expiry, and its money may still settle). The `updated_at` bound follows from the others (an attempt is updated
    no earlier than created, a TTL before it expires, nor before it was cancelled); it is stated so that the
    (state, updated_at) index reads only the last day's ended attempts, not every abandoned one ever."""
    since = now - EXPIRED_RECHECK
    created_since = since - timedelta(seconds=get_settings().payment_attempt_ttl_s)
    cancelled_since = and_(PaymentAttempt.cancelled_by.is_not(None), PaymentAttempt.completed_at > since)
    return or_(PaymentAttempt.state.in_(LIVE_STATES),
               and_(PaymentAttempt.state.in_(ENDED_UNPAID), PaymentAttempt.expiry_confirmed.is_(False),
                    PaymentAttempt.updated_at > created_since,
                    or_(PaymentAttempt.expires_at > since, cancelled_since)))


async def _candidates(older_than_s: float, limit: int) -> list[tuple[uuid.UUID, str, str, object]]:
    """Oldest asked first: every ask moves `updated_at`, so attempts the provider keeps calling pending take
    turns with the others instead of filling every pass."""
    now = clock.now()
    async with get_database().read_sessions() as session:
        rows = (await session.execute(
            select(PaymentAttempt.id, PaymentAttempt.provider, PaymentAttempt.provider_ref, PaymentAttempt.created_at)
            .where(_unsettled(now), PaymentAttempt.updated_at <= now - timedelta(seconds=older_than_s),
                   PaymentAttempt.provider != "counter")
            .order_by(PaymentAttempt.updated_at).limit(limit))).all()
    return [(r.id, r.provider, r.provider_ref, r.created_at) for r in rows]


async def _lock_unsettled(session: AsyncSession, attempt_id: uuid.UUID) -> PaymentAttempt | None:
    stmt = (select(PaymentAttempt).where(PaymentAttempt.id == attempt_id, _unsettled(clock.now()))
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def _apply(attempt_id: uuid.UUID, status: ProviderStatus | None, report: ReconcileReport) -> None:
    async with get_database().write_sessions() as session, session.begin():
        attempt = await _lock_unsettled(session, attempt_id)
        if attempt is None:  # settled meanwhile by a callback, or another reconciler holds it
            report.unchanged += 1
            return
        now = clock.now()
        if status is not None and status.state in FINAL_ANSWERS:
            await apply_final_answer(session, attempt, status, {"source": "reconcile"})
            report.settled += 1
        elif attempt.live and attempt.expires_at <= now and not _settling(attempt, status):
            attempt.state, attempt.completed_at, attempt.updated_at = AttemptState.expired.value, now, now
            await emit_ended_unpaid(session, attempt, attempt.state)
            report.expired += 1
        else:
            if status is not None and status.state == "processing" and attempt.live:
                attempt.state = AttemptState.submitted.value  # the payer has paid; the provider has not settled
            attempt.updated_at = now  # asked: its next turn comes after the wait
            report.unchanged += 1


# What the provider says when it has a final word on an order.
FINAL_ANSWERS = ("succeeded", "failed", "cancelled")


async def apply_final_answer(session: AsyncSession, attempt: PaymentAttempt, status: ProviderStatus,
                             payload: dict[str, str]) -> None:
    """The provider's final word on a locked attempt, applied as a callback's (`settle`) and kept in the callback
    log with `payload` saying who asked (reconciliation, or finance cancelling: app.fees.cancel)."""
    now = clock.now()
    outcome = await settle(session, attempt, status=status.state, txn_id=status.txn_id, amount=status.amount)
    session.add(PaymentCallback(provider=attempt.provider, provider_ref=attempt.provider_ref,
                                provider_txn_id=status.txn_id, attempt_id=attempt.id, status=status.state,
                                amount=status.amount, outcome=outcome, payload=payload, received_at=now))
    # Asked enough once the answer is definite: money it reports is settled now (credited, flagged, or a
    # surplus), and a failure is final once the order can no longer be paid (before that, the payer may
    # still pay it after a declined try).
    if not attempt.live and (status.state == "succeeded" or attempt.expires_at <= now):
        attempt.expiry_confirmed = True


def _settling(attempt: PaymentAttempt, status: ProviderStatus | None) -> bool:
    """The payer has paid and the provider has not settled: it says so now, or said so before (`submitted`) and has
    said nothing since (unreachable, or an answer that concludes nothing). Not given up on our clock: the payer
    could then pay the same fees again; finance finds such attempts with `state=submitted`, and may cancel them
    (app.fees.cancel)."""
    if status is not None and status.state == "processing":
        return True
    return attempt.state == AttemptState.submitted and (status is None or status.state == "unknown")


async def reconcile(*, older_than_s: float | None = None, limit: int = 200) -> ReconcileReport:
    """One pass over attempts stuck in a live state for longer than `older_than_s` (default from settings)."""
    wait = get_settings().payment_reconcile_after_s if older_than_s is None else older_than_s
    report = ReconcileReport()
    for attempt_id, provider_name, provider_ref, created_at in await _candidates(wait, limit):
        report.checked += 1
        status: ProviderStatus | None = None
        try:
            status = await get_provider(provider_name).status(provider_ref, created_at)
        except ProviderError as error:  # try again next pass; expiry still applies
            log.warning("reconcile: %s status of %s failed: %s", provider_name, provider_ref, error)
            report.errors += 1
        except Exception:  # an answer the adapter could not handle must not stop the pass either
            log.exception("reconcile: %s status of %s", provider_name, provider_ref)
            report.errors += 1
        try:
            await _apply(attempt_id, status, report)
        except Exception:  # one bad attempt must not stop the pass
            log.exception("reconcile: attempt %s", attempt_id)
            report.errors += 1
    for refund, attempt, surplus in await _unresolved_refunds(wait, limit):
        try:
            if await _ask_again(refund, attempt, surplus):
                report.refunds_settled += 1
                continue
        except Exception:  # one bad refund must not stop the pass; it is still reported below
            log.exception("reconcile: refund %s", refund.id)
            report.errors += 1
        report.refunds_unresolved += 1
        log.warning("refund %s of payment %s (%s đồng) has no outcome from the provider; the amount stays "
                    "reserved until finance, having checked with the provider, records it (POST "
                    "/v1/payments/%s/refunds/%s/resolution)", refund.id, attempt.id, refund.amount, attempt.id,
                    refund.id)
    return report


async def _unresolved_refunds(older_than_s: float,
                              limit: int) -> list[tuple[Refund, PaymentAttempt, PaymentSurplus | None]]:
    """Submitted refunds older than the wait, with their payment and the surplus they draw on (if any)."""
    cutoff = clock.now() - timedelta(seconds=older_than_s)
    async with get_database().read_sessions() as session:
        rows = (await session.execute(
            select(Refund, PaymentAttempt, PaymentSurplus).join(PaymentAttempt, PaymentAttempt.id == Refund.attempt_id)
            .outerjoin(PaymentSurplus, PaymentSurplus.id == Refund.surplus_id)
            .where(Refund.state == RefundState.submitted.value, Refund.created_at <= cutoff)
            .order_by(Refund.created_at).limit(limit))).all()
    return [(row[0], row[1], row[2]) for row in rows]


async def _ask_again(refund: Refund, attempt: PaymentAttempt, surplus: PaymentSurplus | None) -> bool:
    """Ask the provider again with the same refund id, outside any transaction; record a definite answer.
    False when the provider cannot be asked safely or the answer is still unknown."""
    if not asked_again(attempt):
        return False
    try:
        result = await ask_provider(attempt, refund, requested_by=str(refund.requested_by), surplus=surplus)
    except ProviderError as error:
        log.warning("reconcile: asking %s again for refund %s failed: %s", attempt.provider, refund.id, error)
        return False
    if result.state == "submitted":
        return False
    async with get_database().write_sessions() as session, session.begin():
        await record_answer(session, attempt.id, refund.id, result)
    return True

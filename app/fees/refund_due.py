"""Money held for a dossier that ended without being processed: what finance has to give back.

A dossier withdrawn by the applicant, rejected at reception or stopped during processing (`CLOSED_DOSSIER_STATES`:
the workflow's terminal states but `returned`) will never be processed, yet the fees paid for it stay paid until
finance refunds them. Nothing is refunded automatically: a refund is finance's decision, made through `POST
/v1/payments/{id}/refunds` with `expected_available`. These expressions make the money findable, decided in SQL so
that the fee view (`refund_due`) and finance's queue (`GET /v1/payments?refund_due=true`) agree, and the database
filters a page of the queue.

What is due back is a succeeded payment's own money not yet refunded (its `refundable`: amount - refunded, where a
refund still awaiting the provider counts as refunded), credited to the obligation or not (a payment that came
after the obligation was paid is not credited, flag `overpayment`, and is held all the same). Surpluses are not
counted: they are flagged and refunded on their own (`surplus_id`).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, case, func, literal_column, select

from app.dossiers.models import Dossier
from app.fees.models import CLOSED_DOSSIER_STATES, AttemptState, FeeObligation, PaymentAttempt

_ENDED_UNPROCESSED = sorted(CLOSED_DOSSIER_STATES)  # a stable order: the same SQL text every time


def ended_unprocessed() -> ColumnElement[bool]:
    """The dossier (joined as `Dossier`) ended without being processed: withdrawn, rejected or stopped."""
    return Dossier.state.in_(_ENDED_UNPROCESSED)


def payment_refund_due() -> ColumnElement[bool]:
    """The payment (joined with its `Dossier`) holds money still to give back for a dossier that ended unprocessed.

    The payment's half is the predicate of the partial index `ix_payment_attempts_holding` (models.HOLDING_SQL),
    with the state as a literal: a bound value would keep PostgreSQL's generic plans off the index."""
    return and_(ended_unprocessed(), PaymentAttempt.state == literal_column(f"'{AttemptState.succeeded.value}'"),
                PaymentAttempt.refunded < PaymentAttempt.amount)


def obligation_refund_due() -> ColumnElement[int]:
    """What the obligation's payments (the obligation joined with its `Dossier`) still hold for a dossier that ended
    unprocessed, in đồng; 0 while the dossier may still be processed, or once it was."""
    held = (select(func.coalesce(func.sum(PaymentAttempt.amount - PaymentAttempt.refunded), 0))
            .where(PaymentAttempt.dossier_id == FeeObligation.dossier_id,  # ix_payment_attempts_dossier
                   PaymentAttempt.obligation_id == FeeObligation.id,
                   PaymentAttempt.state == AttemptState.succeeded.value)
            .scalar_subquery())
    return case((ended_unprocessed(), held), else_=0)

"""Fee tables: obligations (with their lines), payment attempts, refunds, and the log of provider callbacks.

Money is whole đồng in integer columns. The database itself keeps the sums honest (CHECK constraints):
an obligation never has paid > due or refunded > paid, an attempt never has refunded > amount. At most one
attempt per obligation is live at a time (a partial unique index), so two browser tabs cannot pay twice.

`paid` counts money credited to the obligation; `refunded` counts money given back from it (reserved as soon
as a refund is submitted, released if the provider refuses). Balance = due - paid: a refund does not reopen
the obligation (it returns money for a decision such as a stopped dossier, it does not undo the payment).

Money a provider reports that we do not credit (a different amount than the order's, a second transaction on an
order already paid) is a surplus: one row per (attempt, provider transaction), refundable on its own; it never
touches the obligation's `paid` or `refunded`, since it was never credited.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core import clock
from app.core.db import Base, BigIntId


class Stage(enum.StrEnum):
    before_processing = "before_processing"
    on_result = "on_result"


class AttemptState(enum.StrEnum):
    created = "created"
    started = "started"
    submitted = "submitted"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"


LIVE_STATES = (AttemptState.created.value, AttemptState.started.value, AttemptState.submitted.value)
# A dossier in one of these states takes no more money; money that still arrives is refunded.
CLOSED_DOSSIER_STATES = frozenset({"rejected", "withdrawn", "stopped"})
_LIVE_SQL = "state IN ('created', 'started', 'submitted')"
_ONLINE_SQL = "provider <> 'counter'"
# A succeeded payment still holding money (the partial index of the refund_due queue; app.fees.refund_due says it
# with the same literal, so that the planner can use the index).
HOLDING_SQL = "state = 'succeeded' AND refunded < amount"


class SurplusReason(enum.StrEnum):
    amount_mismatch = "amount_mismatch"  # the provider took another amount than the order's
    second_transaction = "second_transaction"  # the payer paid an order that was already paid


class RefundState(enum.StrEnum):
    submitted = "submitted"
    succeeded = "succeeded"
    failed = "failed"


class FeeObligation(Base):
    """What one dossier owes at one stage (step 2.3: created when an official requests it)."""

    __tablename__ = "fee_obligations"
    __table_args__ = (
        CheckConstraint("due >= 0", name="due_non_negative"),
        CheckConstraint("paid >= 0", name="paid_non_negative"),
        CheckConstraint("refunded >= 0", name="refunded_non_negative"),
        CheckConstraint("paid <= due", name="paid_at_most_due"),
        CheckConstraint("refunded <= paid", name="refunded_at_most_paid"),
        Index("uq_fee_obligations_dossier_stage", "dossier_id", "stage", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(24))
    due: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    settled_at: Mapped[datetime | None] = mapped_column(default=None)

    lines: Mapped[list[FeeLine]] = relationship(order_by="FeeLine.position", lazy="selectin",
                                                cascade="all, delete-orphan")

    @property
    def balance(self) -> int:
        return self.due - self.paid


class FeeLine(Base):
    """One fee item copied from the pinned procedure version; an exempt line is not charged."""

    __tablename__ = "fee_lines"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_non_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    obligation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fee_obligations.id", ondelete="CASCADE"),
                                                     index=True)
    position: Mapped[int] = mapped_column(Integer)
    item_index: Mapped[int] = mapped_column(Integer)  # index in the version's fee_items
    kind: Mapped[str] = mapped_column(String(16))  # charge (phí) | fee (lệ phí)
    name: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    exemption_reason: Mapped[str | None] = mapped_column(Text, default=None)
    exempted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)

    @property
    def charged(self) -> int:
        return 0 if self.exempt else self.amount


class PaymentAttempt(Base):
    """One try to pay an obligation, online through a provider or at the desk (provider `counter`)."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_within_amount"),
        # One live attempt per obligation: the database settles a race between two "pay" clicks.
        Index("uq_payment_attempts_live", "obligation_id", unique=True,
              sqlite_where=text(_LIVE_SQL), postgresql_where=text(_LIVE_SQL)),
        Index("uq_payment_attempts_provider_ref", "provider", "provider_ref", unique=True),
        # A desk payment's transaction id is its paper receipt's number, unique per agency only (below).
        Index("uq_payment_attempts_provider_txn", "provider", "provider_txn_id", unique=True,
              sqlite_where=text(_ONLINE_SQL), postgresql_where=text(_ONLINE_SQL)),
        # Receipt numbers: paper receipt books are per agency, so a desk number is unique within its agency; the
        # numbers the service issues to online payments (BL-...) are unique across all of them.
        Index("uq_payment_attempts_agency_receipt", "agency_code", "receipt_number", unique=True),
        Index("uq_payment_attempts_issued_receipt", "receipt_number", unique=True,
              sqlite_where=text(_ONLINE_SQL), postgresql_where=text(_ONLINE_SQL)),
        Index("ix_payment_attempts_state_updated", "state", "updated_at"),
        Index("ix_payment_attempts_dossier", "dossier_id", "created_at"),
        # The payment list, newest first; its finance queue (flagged payments) is a small part of the table.
        Index("ix_payment_attempts_created", "created_at", "id"),
        Index("ix_payment_attempts_flagged", "created_at", "id", sqlite_where=text("flag IS NOT NULL"),
              postgresql_where=text("flag IS NOT NULL")),
        # Finance's refund_due queue: succeeded payments still holding money (app.fees.refund_due), a small part.
        Index("ix_payment_attempts_holding", "created_at", "id", sqlite_where=text(HOLDING_SQL),
              postgresql_where=text(HOLDING_SQL)),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    obligation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fee_obligations.id", ondelete="CASCADE"))
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    # The dossier's agency when the payment was made: whose receipt book a desk payment's number is from.
    agency_code: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.code"))
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(100))  # our order reference, sent to the provider
    provider_txn_id: Mapped[str | None] = mapped_column(String(100), default=None)  # the provider's id
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=AttemptState.created.value)
    credited: Mapped[bool] = mapped_column(Boolean, default=False)  # counted in the obligation's `paid`
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Why an operator is needed: overpayment or dossier_closed (this attempt's own money, set when it succeeds),
    # else the first surplus's reason (amount_mismatch, second_transaction); each surplus is a PaymentSurplus row.
    flag: Mapped[str | None] = mapped_column(String(32), default=None)
    reported_amount: Mapped[int | None] = mapped_column(BigInteger, default=None)  # the first mismatching amount
    # An attempt expires on our clock alone (90 minutes, or a new payment asked for after them), or fails on one
    # declined try the payer may follow with a paid one, so the money may still have moved: reconciliation keeps
    # asking the provider until it answers (a failure once the order can no longer be paid: true here) or a day
    # has passed; a late success is credited or flagged like any other.
    expiry_confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    next_url: Mapped[str | None] = mapped_column(Text, default=None)
    return_url: Mapped[str | None] = mapped_column(Text, default=None)
    payer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    # A live online attempt a finance official gave up (app.fees.cancel): who and why. The provider reference is
    # kept, so money the provider still reports for it is credited, or flagged for a refund, as any late success.
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)
    receipt_number: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded if self.state == AttemptState.succeeded else 0


class PaymentSurplus(Base):
    """Money a provider reported for an attempt and we did not credit: what finance gives back.

    Unique per (attempt, provider transaction), so a repeated callback records it once; `refunded` is reserved
    as a refund drawing on it is submitted, and released if the provider refuses (as an attempt's)."""

    __tablename__ = "payment_surpluses"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_within_amount"),
        CheckConstraint("reason IN ('amount_mismatch', 'second_transaction')", name="reason_known"),
        Index("uq_payment_surpluses_attempt_txn", "attempt_id", "provider_txn_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_attempts.id", ondelete="CASCADE"))
    provider_txn_id: Mapped[str | None] = mapped_column(String(100), default=None)  # None: the provider named none
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded


class Refund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),
                      Index("ix_payment_refunds_attempt", "attempt_id", "created_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_attempts.id", ondelete="CASCADE"))
    # The surplus this refund gives back; None: the attempt's own (credited or overpaid) payment.
    surplus_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_surpluses.id", ondelete="CASCADE"),
                                                         default=None)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=RefundState.submitted.value)
    provider_refund_id: Mapped[str | None] = mapped_column(String(100), default=None)
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when finance recorded the outcome after checking with the provider (its answer never came).
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    resolution_note: Mapped[str | None] = mapped_column(Text, default=None)


class PaymentCallback(Base):
    """Every callback a provider sent (verified or not), with what we made of it: the audit trail."""

    __tablename__ = "payment_callbacks"
    __table_args__ = (Index("ix_payment_callbacks_provider_txn", "provider", "provider_txn_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(100), default=None)
    provider_txn_id: Mapped[str | None] = mapped_column(String(100), default=None)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    amount: Mapped[int | None] = mapped_column(BigInteger, default=None)
    outcome: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=clock.column_now)

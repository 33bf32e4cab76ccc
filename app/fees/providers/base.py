"""The payment-provider adapter interface: create, status, refund, verify_callback.

The fees services speak only this interface; each provider's wire format (signatures, amounts x100, answer
bodies) stays inside its adapter. Adapters never touch the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from starlette.responses import Response

# What a status answer says of an order: pending (open, nothing paid yet), processing (the payer has paid, the
# provider has not settled: the attempt is then `submitted`), a final state, or unknown (nothing to conclude).
ProviderState = Literal["pending", "processing", "succeeded", "failed", "cancelled", "unknown"]
CallbackOutcome = Literal["credited", "recorded", "duplicate", "ignored", "amount_mismatch", "overpayment",
                          "unknown_order", "signature_invalid", "malformed"]
# Bounds of what a provider may report, checked by the adapters before anything is stored: an amount beyond
# any fee (and far inside the BIGINT columns), an id within the provider_ref / provider_txn_id columns.
MAX_AMOUNT = 10**12
MAX_ID_LENGTH = 100


def storable_id(value: object) -> bool:
    """A provider's order or transaction id we can store and match: printable text, not blank, within the column.
    A missing id must never become "" or "None", which the next such payment would collide with."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable() and bool(value.strip())


class CallbackRejected(Exception):
    """A callback that fails verification (bad signature, stale timestamp, unparsable)."""

    def __init__(self, reason: Literal["signature_invalid", "malformed"], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable; the caller retries later."""


@dataclass(frozen=True)
class PaymentOrder:
    """What an adapter needs to start a payment (no ORM objects cross this boundary)."""

    attempt_id: uuid.UUID
    provider_ref: str
    amount: int  # whole đồng
    description: str
    return_url: str
    created_at: Any  # aware datetime
    client_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class CreatedPayment:
    next_url: str


@dataclass(frozen=True)
class ProviderStatus:
    state: ProviderState
    txn_id: str | None = None
    amount: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


# What a callback says happened: `processing` is money taken but held by the provider (not settled, not failed).
CallbackStatus = Literal["succeeded", "failed", "cancelled", "processing"]


@dataclass(frozen=True)
class CallbackEvent:
    """A verified callback: which order, which provider transaction, what happened, for how much."""

    provider_ref: str
    txn_id: str
    status: CallbackStatus
    amount: int  # whole đồng
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackRequest:
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class RefundOrder:
    refund_id: uuid.UUID
    provider_ref: str
    txn_id: str | None
    amount: int
    full: bool
    reason: str
    ordered_at: Any  # aware datetime: when the payment was requested (how VNPAY names the original payment)
    requested_by: str


@dataclass(frozen=True)
class RefundResult:
    state: Literal["succeeded", "failed", "submitted"]
    provider_refund_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str
    # False for a real provider, which must get every callback answer in its own form, even when handling fails
    # on our side; True for our own fake, whose errors are problem+json like the rest of the API.
    answers_with_problems: bool
    # True when the provider de-duplicates refunds by our refund id (RefundOrder.refund_id): asking again for
    # a refund whose answer was lost then cannot move the money twice, so reconciliation may do it.
    refunds_idempotent: bool

    async def create(self, order: PaymentOrder) -> CreatedPayment:
        """Register the payment with the provider; answer where to send the payer."""
        ...

    async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
        """Ask the provider what became of an order (idempotent; used by reconciliation)."""
        ...

    async def refund(self, order: RefundOrder) -> RefundResult:
        """Ask for a refund; "submitted" when the outcome is unknown (the amount stays reserved)."""
        ...

    def verify_callback(self, request: CallbackRequest) -> CallbackEvent:
        """Check the signature (constant time) and freshness; raise CallbackRejected otherwise."""
        ...

    def callback_response(self, outcome: CallbackOutcome, event: CallbackEvent | None) -> Response:
        """The answer in the form this provider expects."""
        ...

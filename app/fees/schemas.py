"""Request and response bodies of the fees API. Money is whole đồng (integers)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from app.catalogue.schemas import CODE_PATTERN
from app.core.clock import LocalDay, last_day_of_range
from app.core.text import legible_text, plain_text

Money = Annotated[int, Field(ge=0, description="Whole Vietnamese đồng.")]
# Money coming in: a JSON integer only (lax mode would take true as 1 đồng, "1000" or 1000.0), bounded like the
# catalogue's fee amounts so that no value reaches the database it cannot hold.
MoneyIn = Annotated[int, Field(strict=True, ge=0, le=10**12, description="Whole Vietnamese đồng.")]
PositiveMoneyIn = Annotated[int, Field(strict=True, gt=0, le=10**12, description="Whole Vietnamese đồng.")]
# Words finance writes that reach the payer or the provider (a refund's reason, how a refund was checked): no
# control characters, something visible, as workflow reasons.
FinanceText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True),
                        AfterValidator(legible_text)]


def _return_url(value: str) -> str:
    """A URL the payer's browser can be sent back to: the pattern keeps it http(s) without whitespace; it also
    has a host, and no control characters (SQLite stored a NUL, PostgreSQL refused it) nor user:password
    (a secret would travel to the provider and into its logs)."""
    plain_text(value, allowed="")
    parts = urlsplit(value)  # ValueError (a 422) for an unparsable host such as "https://[::1"
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeeLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    kind: Literal["charge", "fee"] = Field(description="`charge` = phí, `fee` = lệ phí.")
    name: str
    amount: Money
    exempt: bool
    exemption_reason: str | None
    exempted_by: uuid.UUID | None
    charged: Money


# What app.fees.refund_due decides, said once for the obligation and the dossier's total.
_REFUND_DUE = ("Money the succeeded payments still hold (paid and not refunded, credited or not; a refund awaiting "
               "the provider counts as refunded) when the dossier ended without being processed (withdrawn, "
               "rejected or stopped): finance refunds it through `POST /v1/payments/{id}/refunds` (`GET "
               "/v1/payments?refund_due=true` lists those payments); nothing is refunded automatically. 0 for a "
               "dossier still under way or whose result was issued. Surpluses are not counted (see the payment's "
               "`surpluses`).")


_REFUNDED = ("Money of the paid fees given back: refunds the provider confirmed (or finance recorded as done).")
_REFUND_PENDING = ("Refunds of the paid fees asked of the provider and not answered yet: reserved (not refundable "
                   "again), not given back; released if the provider refuses.")


class ObligationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    stage: Literal["before_processing", "on_result"]
    due: Money
    paid: Money
    refunded: Money = Field(description=_REFUNDED)
    refund_pending: Money = Field(description=_REFUND_PENDING)
    balance: Money
    refund_due: Money = Field(description=_REFUND_DUE)
    settled: bool
    created_at: datetime
    settled_at: datetime | None
    lines: list[FeeLineOut]


class FeesOut(BaseModel):
    dossier_id: uuid.UUID
    obligations: list[ObligationOut]
    due: Money
    paid: Money
    refunded: Money = Field(description="The obligations' `refunded`, added up. " + _REFUNDED)
    refund_pending: Money = Field(description="The obligations' `refund_pending`, added up. " + _REFUND_PENDING)
    balance: Money
    refund_due: Money = Field(description="The obligations' `refund_due`, added up. " + _REFUND_DUE)


class PaymentCreate(Strict):
    provider: Literal["fakepay", "vnpay"]
    return_url: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^https?://\S+$"),
                          AfterValidator(_return_url)] = Field(
        description="Where the provider sends the payer back (http or https URL).")


class CounterPaymentCreate(Strict):
    receipt_number: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9./-]+$")] = (
        Field(description="The paper receipt's number, from the agency's own receipt book: unique within the "
                          "dossier's agency (409 `conflict` when that agency recorded it already); another agency "
                          "may hold the same number."))
    amount: PositiveMoneyIn | None = Field(default=None, description="Defaults to the balance.")


class RefundCreate(Strict):
    amount: PositiveMoneyIn
    reason: FinanceText  # printed for the payer and sent to the provider
    expected_available: Annotated[MoneyIn, Field(description="What you believe is still refundable: the payment's "
                                                             "`refundable`, or the surplus's with `surplus_id`.")]
    surplus_id: uuid.UUID | None = Field(
        default=None, description="Refund this surplus of the payment (money the provider reported that was never "
                                  "credited, listed in the payment's `surpluses`) instead of the payment's own money.")


class PaymentCancel(Strict):
    reason: FinanceText = Field(description="Why the payment is given up: kept on the payment, which the "
                                               "applicant sees too.")


class RefundResolution(Strict):
    """What the provider says happened to a refund whose answer never came, checked by finance."""

    outcome: Literal["succeeded", "failed"] = Field(description="`succeeded`: the money was given back (announced "
                                                    "as `payment.refunded`); `failed`: it was not (amount released).")
    note: FinanceText = Field(description="How it was checked (kept on the refund).")
    provider_refund_id: Annotated[str, StringConstraints(min_length=1, max_length=100,
                                                         pattern=r"^[A-Za-z0-9._:-]+$")] | None = None


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    payment_id: uuid.UUID = Field(validation_alias="attempt_id")
    surplus_id: uuid.UUID | None = Field(description="The surplus this refund gives back; null: the payment's own "
                                                     "money.")
    amount: Money
    reason: str
    state: Literal["submitted", "succeeded", "failed"]
    created_at: datetime
    completed_at: datetime | None
    resolved_by: uuid.UUID | None = Field(default=None, description="The finance official who recorded the "
                                          "outcome after checking with the provider; null: the provider answered.")
    resolution_note: str | None = None


class SurplusOut(BaseModel):
    """Money the provider reported for this payment that was never credited: refund it with `surplus_id`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_txn_id: str | None = Field(description="The provider's transaction; null when it named none.")
    amount: Money = Field(description="What the provider says it took in that transaction.")
    reason: Literal["amount_mismatch", "second_transaction"] = Field(
        description="`amount_mismatch`: another amount than the payment's; `second_transaction`: the payment was "
                    "already paid by another transaction.")
    refunded: Money = Field(description="Given back: refunds the provider confirmed.")
    refund_pending: Money = Field(default=0, description="Reserved by refunds awaiting the provider.")
    refundable: Money
    created_at: datetime


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    dossier_id: uuid.UUID
    obligation_id: uuid.UUID
    provider: str
    provider_ref: str
    provider_txn_id: str | None
    amount: Money
    state: Literal["created", "started", "submitted", "succeeded", "failed", "cancelled", "expired"] = Field(
        description="created (registered here); started (the payer was sent to `next_url`); submitted (the "
                    "provider says the payer has paid and it has not settled yet: it stays live, and blocks another "
                    "payment, until the provider settles it or stops saying so, or finance cancels it); succeeded; "
                    "failed, cancelled (a declined try: the payer may still pay the order; or given up by finance, "
                    "`cancelled_by`); expired (not paid within 90 minutes). After failed, cancelled or expired the "
                    "provider is still asked about the order for a day (after finance cancelled it, a day from "
                    "then), and money it then reports is credited, or flagged for a refund when the fees were paid "
                    "otherwise).")
    credited: bool
    refunded: Money = Field(description=_REFUNDED)
    refund_pending: Money = Field(default=0, description=_REFUND_PENDING)
    refundable: Money
    flag: str | None = Field(description="Set when the payment needs an operator: overpayment, dossier_closed (paid "
                             "while the dossier was withdrawn, refused or stopped: refund it), amount_mismatch (the "
                             "provider reported another amount: money it took is not credited and is listed in "
                             "`surpluses`; a failure it reported with another amount took none, and reconciliation "
                             "settles the payment), second_transaction (money not credited: see `surpluses`). A later "
                             "surplus does not replace an earlier flag; every surplus is listed in `surpluses`.")
    next_url: str | None = Field(description="Where to send the payer to finish the payment.")
    receipt_number: str | None
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    cancelled_by: uuid.UUID | None = Field(default=None, description="The finance official who gave the payment up "
                                           "(`POST /v1/payments/{id}/cancel`); null otherwise.")
    cancel_reason: str | None = Field(default=None, description="Why finance gave it up.")
    surpluses: list[SurplusOut] = Field(default_factory=list, description="Money the provider reported that was "
                                        "not credited (flag amount_mismatch or second_transaction), oldest first.")


class PaymentFilters(BaseModel):
    """The payment list's query parameters (finance's queues: what is flagged, what is still under way)."""

    state: Literal["created", "started", "submitted", "succeeded", "failed", "cancelled", "expired"] | None = None
    provider: Literal["fakepay", "vnpay", "counter"] | None = Field(
        default=None, description="`counter`: desk payments recorded by finance.")
    flagged: bool | None = Field(default=None, description="true: payments that need an operator (`flag` set: "
                                 "money to refund or to check); false: the others.")
    refund_due: bool | None = Field(default=None, description="true: succeeded payments with money not yet "
                                    "refunded (`refundable` > 0) for a dossier that ended without being processed "
                                    "(withdrawn, rejected or stopped): refund them with `expected_available` = "
                                    "`refundable` (nothing is refunded automatically); false: the others.")
    agency: Annotated[str, StringConstraints(pattern=CODE_PATTERN)] | None = Field(
        default=None, description="The dossier's agency (for callers who see several).")
    created_from: LocalDay | None = Field(default=None, description="First local day (Asia/Ho_Chi_Minh), inclusive.")
    created_to: LocalDay | None = Field(default=None, description="Last local day, inclusive.")

    @field_validator("created_to")
    @classmethod
    def _range(cls, value: date | None, info: ValidationInfo) -> date | None:
        return last_day_of_range(value, info, "created_from")


class ReceiptLine(BaseModel):
    kind: Literal["charge", "fee"]
    name: str
    amount: Money
    exempt: bool
    paid: Money = Field(description="What this payment paid of the line: lines are paid in order, each after what "
                                    "earlier payments of the same fees paid of it; 0 on money that was not credited "
                                    "(flagged for a refund).")


class ReceiptParty(BaseModel):
    name: str | None
    citizen_id: str | None = None
    tax_code: str | None = None


class ReceiptAgency(BaseModel):
    code: str
    name: str


class ReceiptOut(BaseModel):
    receipt_number: str
    payment_id: uuid.UUID
    issued_at: datetime
    dossier_id: uuid.UUID
    dossier_code: str | None
    procedure_name: str
    payer: ReceiptParty
    agency: ReceiptAgency
    lines: list[ReceiptLine]
    amount: Money
    refunded: Money = Field(description="Of this payment, given back: refunds the provider confirmed (or finance "
                                        "recorded as done).")
    refund_pending: Money = Field(description="Of this payment, asked of the provider and not answered yet: "
                                              "reserved, not given back; released if the provider refuses.")
    provider: str
    provider_txn_id: str | None

"""Notification I/O: preferences, and the messages of a dossier or of an account (recipients masked)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Language = Literal["vi", "en"]
ChannelName = Literal["email", "sms", "zalo"]
DeliveryState = Literal["pending", "delivered", "failed"]


class PreferencesOut(BaseModel):
    email: bool
    sms: bool
    zalo: bool
    language: Language
    required_messages: list[str] = Field(description=(
        "Messages sent on at least one channel the applicant has even when every channel is switched off "
        "(first of email, SMS, Zalo that is configured and has an address)."))


class PreferencesPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool | None = None
    sms: bool | None = None
    zalo: bool | None = None
    language: Language | None = None


class NotificationOut(BaseModel):
    id: int
    event_type: str
    kind: str = Field(description="submitted, received, supplement_requested, payment_requested, "
                                  "payment_received, payment_refunded, payment_cancelled (finance gave up an online "
                                  "payment), payment_failed (the provider failed or cancelled it, it expired, or "
                                  "the provider reported another amount), apology, refused, stopped, withdrawn, "
                                  "result_ready, returned or complaint_answered; account messages: "
                                  "mandate_given, mandate_changed, mandate_withdrawn, mandate_expiring (to the "
                                  "organisation), mandate_ending (the same term end, to the representative), "
                                  "mandate_started (a term given in advance has begun: to the representative and "
                                  "to the organisation)")
    channel: ChannelName
    recipient: str = Field(description="Masked: a***@example.vn, 09******78.")
    language: Language
    required: bool = Field(description="Sent although the applicant switched this channel off (legally required).")
    subject: str | None
    state: DeliveryState = Field(description=(
        "pending: not delivered yet, an attempt is scheduled (next_attempt_at; `attempts` > 0 and, for officials, "
        "`last_error` when earlier ones failed); delivered; failed: every attempt failed "
        "(DVC_NOTIFICATION_MAX_ATTEMPTS), no more tries."))
    attempts: int
    last_error: str | None = Field(description="The last failure (officials only; null for applicants).")
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

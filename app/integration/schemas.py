"""Integration I/O: national-portal intake, sync state, webhook subscriptions and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.core.text import ONE_LINE, without_controls
from app.dossiers.schemas import CitizenId, Contact, FormData, IntakeApplicant, Phone, ProcedureCode, TaxCode

NationalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")]
PartKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


Name = Annotated[str, StringConstraints(min_length=1, max_length=400, strip_whitespace=True), ONE_LINE]
Description = Annotated[str, StringConstraints(max_length=400), without_controls("\n\t")]

# Events a webhook may subscribe to: every one concerns one dossier (so one agency).
WebhookEventType = Literal["dossier.submitted", "dossier.status_changed", "payment.succeeded", "payment.refunded",
                           "payment.surplus_recorded", "payment.cancelled", "payment.failed",
                           "complaint.filed", "complaint.answered"]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
SyncStateFilter = Literal["failed", "pending", "dead", "delivered"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForwardedApplicant(Strict):
    """The applicant as the portal identified them: CCCD (citizen) or tax code (organisation)."""

    citizen_id: CitizenId | None = None
    tax_code: TaxCode | None = None
    name: Name
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> ForwardedApplicant:
        if (self.citizen_id is None) == (self.tax_code is None):
            raise ValueError("give exactly one of citizen_id or tax_code")
        if self.email is not None:
            Contact(email=self.email)  # same e-mail check as the dossiers domain
        return self

    def identity(self) -> IntakeApplicant:
        return IntakeApplicant(citizen_id=self.citizen_id, tax_code=self.tax_code, name=self.name)


class ForwardedAttachment(Strict):
    """One file: inline (`content_base64`) or at a URL the service fetches (http/https, public hosts only)."""

    part: PartKey
    file_name: FileName | None = None
    content_base64: str | None = None
    url: AnyUrl | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ForwardedAttachment:
        if (self.content_base64 is None) == (self.url is None):
            raise ValueError("give exactly one of content_base64 or url")
        if self.content_base64 is not None and self.file_name is None:
            raise ValueError("an inline file needs a file_name")
        return self

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: AnyUrl | None) -> AnyUrl | None:
        if value is not None and value.scheme not in ("http", "https"):
            raise ValueError("only http and https URLs are allowed")
        return value


class NationalDossierIn(Strict):
    national_dossier_id: NationalId = Field(description="The portal's own dossier id (idempotency key).")
    procedure_code: ProcedureCode
    applicant: ForwardedApplicant
    form: FormData = Field(default_factory=dict)
    attachments: list[ForwardedAttachment] = Field(default_factory=list, max_length=50)


class SyncDeliveryOut(BaseModel):
    id: int
    dossier_id: uuid.UUID
    event_type: str
    national_status_code: int | None
    state: str = Field(description="pending | delivered | dead (failed = pending with attempts > 0)")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DossierSyncOut(BaseModel):
    dossier_id: uuid.UUID
    national_dossier_id: str | None = Field(description="Set when the dossier came from the national portal.")
    last_synced_code: int | None
    synced_at: datetime | None
    deliveries: list[SyncDeliveryOut]


class SyncReplayOut(BaseModel):
    dossier_id: uuid.UUID
    event_id: uuid.UUID
    state: str
    national_status_code: int


class SyncResync(Strict):
    # A filter value: a NUL reached the database (nothing matched on SQLite, a 422 naming no field on PostgreSQL).
    agency_code: Annotated[str | None, StringConstraints(min_length=1, max_length=64), ONE_LINE] = Field(
        default=None, description="Only this agency's dossiers (default: every agency).")
    after: uuid.UUID | None = Field(default=None, description="Continue after this dossier id (`next_after` of "
                                                                "the previous answer).")
    limit: int = Field(default=500, ge=1, le=5000, description="At most this many dossiers in one call.")


class SyncResyncOut(BaseModel):
    queued: int = Field(description="Dossiers whose current state was queued for the portal by this call.")
    next_after: uuid.UUID | None = Field(description="More dossiers are out of step: call again with `after` set "
                                                     "to this; null when none are left.")


def known_event_types(value: list[str]) -> list[str]:
    """The subscribed event types, each once and sorted; an unknown one is a field error."""
    unknown = sorted(set(value) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {list(WEBHOOK_EVENT_TYPES)}")
    return sorted(set(value))


_EVENT_TYPES_DOC = "Event types, each one of: " + ", ".join(f"`{t}`" for t in WEBHOOK_EVENT_TYPES) + "."


class WebhookCreate(Strict):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    event_types: list[str] = Field(min_length=1, max_length=len(WEBHOOK_EVENT_TYPES), description=_EVENT_TYPES_DOC)
    description: Description | None = None

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        return known_event_types(value)


class WebhookPatch(Strict):
    """What a subscription may change; what is left out stays. Deliveries not yet made go to the new URL."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=len(WEBHOOK_EVENT_TYPES),
                                         description=_EVENT_TYPES_DOC)
    description: Description | None = None

    @field_validator("url", "event_types", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave it out to keep it")
        return value

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else known_event_types(value)


class WebhookSecretRotate(Strict):
    previous_secret_valid_hours: int = Field(
        default=24, ge=0, le=168,
        description="How long the secret being replaced keeps signing beside the new one (a second `v1`), while "
                    "the receiver changes over; 0 stops it at once (a leaked secret).")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until when the secret replaced by the last rotation also signs; null when none "
                                  "does.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing key; shown only in this answer.")


class WebhookDeliveryOut(BaseModel):
    id: int
    event_id: uuid.UUID
    event_type: str
    state: str
    attempts: int = Field(description="Every attempt made, replays' included.")
    replays: int = Field(description="How often the delivery was replayed; each replay started a fresh retry "
                                     "schedule.")
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None

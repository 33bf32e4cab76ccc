"""Dossier I/O: the names issue 6 fixes (id, code, procedure_code, ..., delivery {method, address})."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.catalogue.schemas import CODE_PATTERN
from app.core.clock import LocalDay, last_day_of_range
from app.core.db import field_reader
from app.core.jsondoc import json_document
from app.core.settings import get_settings
from app.core.text import DECIMAL_DIGITS, ONE_LINE, without_controls
from app.dossiers.models import Attachment, Dossier, DossierState

ChannelName = Literal["online", "desk", "post"]
DeskChannel = Literal["desk", "post"]


def _bounded_form(form: dict[str, Any]) -> dict[str, Any]:
    return json_document(form, max_bytes=get_settings().max_form_bytes)


# A dossier form: any JSON object JSON can carry, bounded in depth and size (app.core.jsondoc).
FormData = Annotated[dict[str, Any], AfterValidator(_bounded_form)]
ProcedureCode = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
CitizenId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
TaxCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}(-[0-9]{3})?$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 .-]{6,20}$", max_length=20)]  # String(20)
# Text people read, and filter values: no control characters (app.core.text). PostgreSQL refused a NUL with a 422
# naming no field where SQLite stored it; a name or a filter value is one line, an address may have several.
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=400, strip_whitespace=True), ONE_LINE]
Address = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True), without_controls()]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


DeliveryMethod = Literal["online", "desk", "post"]
# The rule a postal delivery keeps, as an `errors` item: create checks it here, a PATCH on the merged delivery
# (app.dossiers.submission), so both answer alike.
POSTAL_ADDRESS_MISSING = {"type": "postal_address_missing", "msg": "a postal delivery needs an address"}


class Delivery(Strict):
    """How the result goes back: online, at the desk, or by public post (BCCI) to `address`."""

    method: DeliveryMethod = "online"
    address: Address | None = Field(default=None, validate_default=True)

    @field_validator("address")
    @classmethod
    def _post_needs_address(cls, address: str | None, info: ValidationInfo) -> str | None:
        # A field validator, not a model one, so the error names the address (after `method`, which it reads).
        if info.data.get("method") == "post" and not address:
            raise PydanticCustomError(POSTAL_ADDRESS_MISSING["type"], POSTAL_ADDRESS_MISSING["msg"])
        return address


class DeliveryPatch(Strict):
    """A change to the delivery: what is left out stays as stored (an address sent as null is removed)."""

    method: DeliveryMethod | None = None
    address: Address | None = None


class DossierCreate(Strict):
    procedure_code: ProcedureCode
    channel: ChannelName = "online"
    delivery: Delivery = Field(default_factory=Delivery)
    form: FormData = Field(default_factory=dict)


class DossierPatch(Strict):
    """Fields to change on a draft; those left out stay as they are."""

    channel: ChannelName | None = None
    delivery: DeliveryPatch | None = None
    form: FormData | None = None


class IntakeApplicant(Strict):
    """The applicant at the desk or by post, identified by CCCD (citizen) or tax code (organisation)."""

    citizen_id: CitizenId | None = None
    tax_code: TaxCode | None = None
    name: PersonName

    @model_validator(mode="after")
    def _one_identifier(self) -> IntakeApplicant:
        if (self.citizen_id is None) == (self.tax_code is None):
            raise ValueError("give exactly one of citizen_id or tax_code")
        return self


class Contact(Strict):
    email: EmailStr | None = None
    phone: Phone | None = None


class DossierIntake(Strict):
    """A dossier handed in at the reception desk or received by post, registered by a reception official."""

    procedure_code: ProcedureCode
    channel: DeskChannel
    applicant: IntakeApplicant
    delivery: Delivery = Field(default_factory=lambda: Delivery(method="desk"))
    form: FormData = Field(default_factory=dict)
    contact: Contact | None = None
    submit: bool = Field(default=False, description="Submit at once (every required document part present).")


class PartyOut(BaseModel):
    id: uuid.UUID | None
    kind: str
    name: str | None
    citizen_id: str | None = None
    tax_code: str | None = None


class DeliveryOut(BaseModel):
    method: str
    address: str | None


class ContactOut(BaseModel):
    email: str | None
    phone: str | None


class DossierOut(BaseModel):
    id: uuid.UUID
    code: str | None
    procedure_code: str
    procedure_version: int
    procedure_name: str
    agency_code: str
    applicant: PartyOut
    actor: PartyOut | None
    channel: str
    source: str
    delivery: DeliveryOut
    contact: ContactOut | None
    form: dict[str, Any]
    state: str
    national_status_code: int | None
    created_at: datetime
    submitted_at: datetime | None
    received_at: datetime | None
    due_at: datetime | None
    finished_at: datetime | None
    version: int
    # Workflow fields (issue 7): lists leave next_actions out (null) to stay one query per page.
    original_due_at: datetime | None = Field(
        default=None, description="The legal due date (supplement waits included), before any apology's new date.")
    paused_working_days: int = Field(default=0, description="Working days spent waiting on a supplement.")
    overdue: bool = Field(default=False, description=(
        "The current appointment: not finished, and past `due_at` (which an apology, form 04, moves to its new "
        "date) with the clock running, or already past it when the clock paused for a supplement. The officials' "
        "queue (`?overdue=`); an apologised dossier within its new date is not overdue."))
    late: bool = Field(default=False, description=(
        "The law's lateness (Resolution 131), as the reports count it, apology or not: finished (result issued, "
        "returned or stopped) after `original_due_at`, or unfinished and behind `original_due_at` now with the "
        "clock running, or waiting on a supplement requested after that date had passed (a wait requested before "
        "it is the applicant's and does not make the dossier late while it lasts). An apology never clears it; "
        "false for drafts, refused and withdrawn dossiers. `?late=` filters by it."))
    next_actions: list[str] | None = Field(
        default=None, description="The workflow actions this caller may take now ([] for a draft); null in lists.")

    @classmethod
    def of(cls, dossier: Dossier | Mapping[str, Any], *, original_due_at: datetime | None = None,
           paused_working_days: int = 0, overdue: bool = False, late: bool = False,
           next_actions: list[str] | None = None) -> DossierOut:
        """From the ORM object, or from a row of the dossiers table read without the ORM (lists)."""
        get = field_reader(dossier)
        actor = None
        if get("actor_id") is not None:
            actor = PartyOut(id=get("actor_id"), kind=get("actor_kind") or "citizen", name=get("actor_name"))
        contact = None
        if get("contact_email") or get("contact_phone"):
            contact = ContactOut(email=get("contact_email"), phone=get("contact_phone"))
        return cls(
            id=get("id"), code=get("code"), procedure_code=get("procedure_code"),
            procedure_version=get("procedure_version"), procedure_name=get("procedure_name"),
            agency_code=get("agency_code"),
            applicant=PartyOut(id=get("applicant_id"), kind=get("applicant_kind"), name=get("applicant_name"),
                               citizen_id=get("applicant_citizen_id"), tax_code=get("applicant_tax_code")),
            actor=actor, channel=get("channel"), source=get("source"),
            delivery=DeliveryOut(method=get("delivery_method"), address=get("delivery_address")),
            contact=contact, form=get("form"), state=get("state"),
            national_status_code=get("national_status_code"), created_at=get("created_at"),
            submitted_at=get("submitted_at"), received_at=get("received_at"), due_at=get("due_at"),
            finished_at=get("finished_at"), version=get("version"), original_due_at=original_due_at,
            paused_working_days=paused_working_days, overdue=overdue, late=late, next_actions=next_actions,
        )


class AttachmentOut(BaseModel):
    id: uuid.UUID
    part: str
    kind: str
    file_name: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    handed_in: bool = Field(description=(
        "Part of the dossier as filed and answered: a document once the dossier is submitted, a supplement file "
        "once a `supplement` action handed it in, a result file once `issue_result` issued it. False for a "
        "draft's files, for a supplement upload not (or never) handed in, and for a result upload not issued."))

    reused_from: uuid.UUID | None = Field(default=None, description=(
        "The applicant's earlier file this one reuses (`source_attachment_id` when it was attached), or null for "
        "an upload."))

    @classmethod
    def of(cls, attachment: Attachment, *, handed_in: bool) -> AttachmentOut:
        return cls(id=attachment.id, part=attachment.part, kind=attachment.kind, file_name=attachment.file_name,
                   media_type=attachment.media_type, size=attachment.size, sha256=attachment.sha256,
                   uploaded_at=attachment.uploaded_at, handed_in=handed_in, reused_from=attachment.reused_from)


class AttachmentReuse(Strict):
    """Attach one of the applicant's own digitised files (`GET /v1/accounts/me/documents`) without sending it
    again (Decree 45/2020: documents digitised once are reused)."""

    part: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="A document part key of the procedure version.")
    source_attachment_id: uuid.UUID = Field(description="The `id` of an item of `GET /v1/accounts/me/documents`.")


class OwnDocumentOut(BaseModel):
    """One of the applicant's digitised files: filed with an earlier dossier, or a result issued to them."""

    id: uuid.UUID
    dossier_id: uuid.UUID
    dossier_code: str | None
    part: str
    kind: str = Field(description="`document` (filed with the dossier), `supplement` (handed in on request) or "
                                  "`result` (issued to the applicant).")
    file_name: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime

    @classmethod
    def of(cls, attachment: Attachment, dossier_code: str | None) -> OwnDocumentOut:
        return cls(id=attachment.id, dossier_id=attachment.dossier_id, dossier_code=dossier_code,
                   part=attachment.part, kind=attachment.kind, file_name=attachment.file_name,
                   media_type=attachment.media_type, size=attachment.size, sha256=attachment.sha256,
                   uploaded_at=attachment.uploaded_at)


class PublicDossierOut(BaseModel):
    """Public tracking: no personal data."""

    code: str
    procedure_name: str
    agency_name: str
    state: str
    national_status_code: int | None
    received_at: datetime | None
    due_at: datetime | None
    result_ready: bool


class DossierFilters(BaseModel):
    """The list's query parameters, validated in one pass (one model, not ten separate parameters)."""

    state: DossierState | None = None
    procedure: Annotated[str, StringConstraints(max_length=64), ONE_LINE] | None = None
    agency: Annotated[str, StringConstraints(max_length=64), ONE_LINE] | None = None
    channel: ChannelName | None = None
    submitted_from: LocalDay | None = None
    submitted_to: LocalDay | None = None
    overdue: bool | None = Field(default=None, description=(
        "true: the dossiers `overdue` now (past the current `due_at`, an apology's new date included); false: "
        "the others."))
    late: bool | None = Field(default=None, description=(
        "true: the dossiers `late` by the law (against `original_due_at`, apology or not; finished late "
        "included); false: the others."))
    code: Annotated[str, StringConstraints(max_length=100), ONE_LINE] | None = None
    due_within_working_days: Annotated[int | None, DECIMAL_DIGITS, Field(
        ge=0, le=60, description="At-risk queue: not yet overdue, due by the end of the n-th working day from "
        "today (0: today).")] = None

    @field_validator("submitted_to")
    @classmethod
    def _range(cls, value: date | None, info: ValidationInfo) -> date | None:
        return last_day_of_range(value, info, "submitted_from")

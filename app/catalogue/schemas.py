"""Catalogue I/O: the names the frontends rely on (issue 5) and the import/export document."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.catalogue.form_schema import check_form_schema
from app.catalogue.models import AgencyLevel, OnlineLevel, VersionStatus
from app.core.clock import Moment
from app.core.text import PLAIN

# Agency, field and procedure codes: national procedure codes such as `1.004567.000.00.00.H01`.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=400, strip_whitespace=True), PLAIN]
LongName = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True), PLAIN]
# Free text up to n characters, control characters refused like names.
Text200 = Annotated[str, StringConstraints(max_length=200), PLAIN]
Text2000 = Annotated[str, StringConstraints(max_length=2000), PLAIN]
Text4000 = Annotated[str, StringConstraints(max_length=4000), PLAIN]
PositiveInt = Annotated[int, Field(strict=True, gt=0)]
# Statutory processing times run to weeks or a few months (the sample catalogue's are 15 working days); a
# year of working days is beyond any of them, so a larger figure is a typo (an extra zero, hours typed as
# days). The bound also keeps the deadline arithmetic, which walks the calendar day by day, fast and far from
# the last date Python can represent.
MAX_WORKING_DAYS = 365
# Hour allowances are for steps shorter than a few days; the same bound at 9 hours a day (generous: the working
# sessions of app/workflow/steps.py make 8 by default; kept so that stored versions stay valid).
MAX_STEP_HOURS = MAX_WORKING_DAYS * 9
WorkingDays = Annotated[int, Field(strict=True, gt=0, le=MAX_WORKING_DAYS)]
WorkingHours = Annotated[int, Field(strict=True, gt=0, le=MAX_STEP_HOURS)]
Amount = Annotated[int, Field(strict=True, ge=0, le=10**12, description="Whole Vietnamese đồng.")]
ApplicantKind = Literal["citizen", "organisation"]
Channel = Literal["online", "desk", "post"]
ClockRule = Literal["pause", "restart"]

# Media types a document part may accept (what the dossier upload path can check by content).
KNOWN_MEDIA_TYPES = frozenset({
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/xml",
    "application/zip",
})


# The workflow keys a version may name. The workflow domain owns the definitions and depends on the
# catalogue, so it registers them here when imported (app/workflow/__init__.py) rather than the catalogue
# importing it. A process without the workflow domain runs no dossiers: any well-formed key passes there.
_workflow_keys: Callable[[], Collection[str]] | None = None
_charging_workflows: Callable[[], Collection[str]] | None = None  # those with step 2.3 (request_payment)
_workflow_steps: Callable[[str], Collection[str]] | None = None  # the process steps a workflow records


def register_workflow_keys(keys: Callable[[], Collection[str]],
                           charging_before_processing: Callable[[], Collection[str]] | None = None,
                           steps: Callable[[str], Collection[str]] | None = None) -> None:
    global _workflow_keys, _charging_workflows, _workflow_steps
    _workflow_keys, _charging_workflows, _workflow_steps = keys, charging_before_processing, steps


def step_limit_problem(workflow: str, step_time_limits: list[dict[str, Any]]) -> str | None:
    """A time limit must name a step the workflow records: one for another name is never applied, and nobody
    would learn that the allowance the province set is not being checked."""
    if _workflow_steps is None:
        return None
    known = _workflow_steps(workflow)
    unknown = sorted({str(limit.get("step")) for limit in step_time_limits} - set(known))
    if not unknown:
        return None
    return (f"workflow {workflow!r} has no step {', '.join(map(repr, unknown))}; its steps: "
            f"{', '.join(sorted(known))}")


def fee_stage_problem(workflow: str, fee_items: list[dict[str, Any]]) -> str | None:
    """Fees due before processing need a workflow that asks for them (step 2.3): under one without
    `request_payment` (`no_fee`) such a dossier was received and processed without ever being charged."""
    charging = _charging_workflows() if _charging_workflows is not None else None
    if charging is None or workflow in charging:
        return None
    if any(item.get("due") == "before_processing" for item in fee_items):
        return (f"workflow {workflow!r} never requests payment before processing: make these fees due "
                "'on_result', or choose a workflow with step 2.3")
    return None


def check_workflow_key(key: str | None) -> str | None:
    """A key the workflow domain knows (a version naming another would break every dossier filed under it)."""
    known = _workflow_keys() if _workflow_keys is not None else None
    if key is not None and known is not None and key not in known:
        raise ValueError(f"unknown workflow {key!r}; known: {', '.join(sorted(known))}")
    return key


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentPart(Strict):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]
    name: LongName
    required: bool = True
    media_types: list[str] = Field(default_factory=lambda: ["application/pdf"], min_length=1)
    max_bytes: PositiveInt = 10 * 1024 * 1024
    original_at_desk: bool = False
    copies: PositiveInt = 1
    template_url: Text2000 | None = None

    @field_validator("media_types")
    @classmethod
    def _known_media_types(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in KNOWN_MEDIA_TYPES]
        if unknown:
            raise ValueError(f"unknown media type {unknown[0]!r}; allowed: {', '.join(sorted(KNOWN_MEDIA_TYPES))}")
        if len(set(value)) != len(value):
            raise ValueError("media types repeat")
        return value


class FeeItem(Strict):
    kind: Literal["charge", "fee"] = Field(description="`charge` = phí, `fee` = lệ phí.")
    name: LongName
    amount: Amount
    due: Literal["before_processing", "on_result"] = Field(
        default="on_result", description="`before_processing` is requested at step 2.3, after reception checks.")
    exemption_note: Text2000 | None = None


class ResultSpec(Strict):
    name: LongName
    electronic: bool = True
    must_be_signed: bool = True


class StepTimeLimit(Strict):
    """A time limit for one internal process step (workflow issue); days or hours, not both."""

    step: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    working_days: WorkingDays | None = None
    hours: WorkingHours | None = None

    @model_validator(mode="after")
    def _one_unit(self) -> StepTimeLimit:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        return self


# No Vietnamese legal act predates the state (2 September 1945), and a year past 2099 is a typo: the bounds
# catch a mistyped year (0202, 20255), the only check a date gets that holds for every recorded version too.
LegalDate = Annotated[date, Field(ge=date(1945, 9, 2), le=date(2099, 12, 31))]


class Announcement(Strict):
    """The decision announcing a version (quyết định công bố thủ tục hành chính) and when the legal act it
    implements takes effect: Decision 766 counts procedures announced and published on time."""

    decision_number: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
                               PLAIN] = Field(description="e.g. `1234/QĐ-UBND`.")
    decision_date: LegalDate = Field(description="The day the decision was signed.")
    effective_date: LegalDate = Field(description="The day the legal act the version implements takes effect.")


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} repeat")
    return values


class ProcedureContent(Strict):
    """What a version says. Shared by creation, draft edits, import entries and output."""

    name: LongName
    agency_code: Code
    field_code: Code
    online_level: OnlineLevel
    applicant_kinds: list[ApplicantKind] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    processing_days: WorkingDays = Field(description="Working days from reception of a complete dossier.")
    clock_on_supplement: ClockRule | None = Field(
        default=None, description="Defaults to the DVC_CLOCK_ON_SUPPLEMENT_DEFAULT setting.")
    document_parts: list[DocumentPart] = Field(default_factory=list)
    fee_items: list[FeeItem] = Field(default_factory=list)
    result: ResultSpec
    workflow: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] = "standard"
    form_schema: dict[str, Any] | None = None
    legal_basis: Text4000 | None = None
    step_time_limits: list[StepTimeLimit] = Field(default_factory=list)
    sample: bool = Field(default=False, description="Invented values (sample catalogue), not legal ones.")
    no_fee: bool = Field(default=False, description=(
        "The procedure charges no fee (phí, lệ phí): said explicitly, so that empty fee_items are not taken "
        "for fees nobody entered. fee_items must then be empty."))
    announcement: Announcement | None = Field(default=None, description=(
        "The decision announcing this version and when the legal act it implements takes effect; not copied "
        "into a new draft (a new version has its own)."))

    @model_validator(mode="after")
    def _no_fee_means_none(self) -> ProcedureContent:
        if self.no_fee and self.fee_items:
            raise ValueError("no_fee is true but fee_items are given: remove one or the other")
        return self

    @field_validator("applicant_kinds", "channels")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        return _unique(value, "values")

    @field_validator("form_schema")
    @classmethod
    def _form_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_form_schema(value)

    @field_validator("document_parts")
    @classmethod
    def _unique_keys(cls, value: list[DocumentPart]) -> list[DocumentPart]:
        _unique([p.key for p in value], "document part keys")
        return value


def _one_limit_per_step(limits: list[StepTimeLimit] | None) -> list[StepTimeLimit] | None:
    """A step has one allowance: two would make its overrun depend on which one the engine read first."""
    if limits is not None:
        _unique([limit.step for limit in limits], "steps of step_time_limits")
    return limits


class _Coded(Strict):
    code: Code = Field(description="National procedure code, e.g. `1.004567.000.00.00.H01`.")


class ProcedureCreate(ProcedureContent, _Coded):
    """A new procedure with its first draft (`code` comes first in the JSON); also each import entry."""

    # Checked on input only: ProcedureOut shares ProcedureContent, and reading a stored version must not fail.
    _known_workflow = field_validator("workflow")(check_workflow_key)
    _step_limits = field_validator("step_time_limits")(_one_limit_per_step)


class VersionPatch(Strict):
    """A draft edit: only the fields given change; the result is validated as a whole."""

    name: LongName | None = None
    agency_code: Code | None = None
    field_code: Code | None = None
    online_level: OnlineLevel | None = None
    applicant_kinds: list[ApplicantKind] | None = None
    channels: list[Channel] | None = None
    processing_days: WorkingDays | None = None
    clock_on_supplement: ClockRule | None = None
    document_parts: list[DocumentPart] | None = None
    fee_items: list[FeeItem] | None = None
    result: ResultSpec | None = None
    workflow: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] | None = None
    form_schema: dict[str, Any] | None = None
    legal_basis: Text4000 | None = None
    step_time_limits: list[StepTimeLimit] | None = None
    sample: bool | None = None
    no_fee: bool | None = None
    announcement: Announcement | None = Field(default=None, description="null removes it.")

    _known_workflow = field_validator("workflow")(check_workflow_key)
    _step_limits = field_validator("step_time_limits")(_one_limit_per_step)


class ProcedureOut(ProcedureContent, _Coded):
    clock_on_supplement: ClockRule  # always resolved on output
    version: int
    status: VersionStatus
    valid_from: datetime | None
    valid_to: datetime | None
    published_at: datetime | None = Field(description=(
        "When the version was published (its status became published), as opposed to when it applies "
        "(valid_from); null for a draft and for a version published before this was recorded."))
    announcement_warnings: list[str] = Field(default_factory=list, description=(
        "What looks odd about the announcement without being refused (a decision signed after the act took "
        "effect)."))

    @field_validator("form_schema")
    @classmethod
    def _form_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Not checked again on output: a stored schema passed the rules of its day, and reading it never fails."""
        return value


class PublishIn(Strict):
    valid_from: Moment | None = Field(default=None, description="Defaults to now: live at once.")


class RetireIn(Strict):
    valid_to: Moment | None = Field(default=None, description="Defaults to now.")


class AgencyIn(Strict):
    code: Code
    name: Name
    parent_code: Code | None = None
    level: AgencyLevel
    province: Text200 | None = None
    address: Text2000 | None = None
    working_hours: Text200 | None = None
    saturday_morning: bool = Field(default=False, description=(
        "The desk receives on ordinary Saturdays until DVC_SATURDAY_MORNING_END (12:00 by default): a dossier "
        "received then counts as received that Saturday, so its day 1 is the next working day."))


class AgencyPatch(Strict):
    name: Name | None = None
    parent_code: Code | None = None
    level: AgencyLevel | None = None
    province: Text200 | None = None
    address: Text2000 | None = None
    working_hours: Text200 | None = None
    saturday_morning: bool | None = None


class AgencyOut(AgencyIn):
    model_config = ConfigDict(from_attributes=True)


class FieldIn(Strict):
    code: Code
    name: Name
    agency_code: Code | None = Field(default=None, description="The agency whose field this is, if scoped.")


class FieldOut(FieldIn):
    model_config = ConfigDict(from_attributes=True)


class ImportProcedure(ProcedureCreate):
    valid_from: Moment | None = Field(
        default=None, description="When this content takes effect; defaults to the import time.")
    # Left out of a document when empty, so that an export without such an end is what older importers read.
    valid_to: Moment | None = Field(
        default=None, exclude_if=lambda value: value is None, description=(
            "When this content stops applying with no successor (a version retired ahead of time); absent when "
            "it applies until the procedure's next entry takes over, or indefinitely."))
    # Likewise left out when unset: a document without them is what importers before these fields read.
    no_fee: bool = Field(default=False, exclude_if=lambda value: not value,
                         description="The procedure charges no fee; fee_items must then be empty.")
    announcement: Announcement | None = Field(default=None, exclude_if=lambda value: value is None,
                                              description="The decision announcing this version, if recorded.")


class CatalogueDocument(Strict):
    """The import/export format; an export imports back unchanged. A procedure may have several entries, oldest
    first, each with a later `valid_from`: an export lists the version in force and those scheduled after it."""

    format: Literal["dvc-catalogue/1"] = "dvc-catalogue/1"
    note: Text4000 | None = None
    agencies: list[AgencyIn] = Field(default_factory=list)
    fields: list[FieldIn] = Field(default_factory=list)
    procedures: list[ImportProcedure] = Field(default_factory=list)


class ImportSummary(BaseModel):
    agencies_created: int = 0
    agencies_updated: int = 0
    fields_created: int = 0
    fields_updated: int = 0
    procedures_created: int = 0
    versions_published: int = 0
    versions_retired: int = 0
    # Versions not yet in force whose valid_from an entry moved (the version before them now ends there).
    versions_rescheduled: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return any((self.agencies_created, self.agencies_updated, self.fields_created, self.fields_updated,
                    self.procedures_created, self.versions_published, self.versions_retired,
                    self.versions_rescheduled))

"""Pydantic I/O of the workflow domain: the working calendar, transitions, history, steps and notices."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from app.core.clock import LocalDay
from app.core.text import legible_text

MAX_CALENDAR_RANGE_DAYS = 366


class WorkingDay(BaseModel):
    date: date
    working: bool
    reason: str = Field(description="Why: `working day`, `weekend`, a holiday's name, `swapped working day`, "
                                    "or `override: <note>`.")


class WorkingDays(BaseModel):
    items: list[WorkingDay]


class CalendarOverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working: bool = Field(description="true: a working day (e.g. a swapped Saturday); false: a day off.")
    # Printed as the day's reason in the public calendar: legible text like a transition's reason (a NUL was
    # stored by SQLite and refused by PostgreSQL with a 422 naming no field).
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400),
                    AfterValidator(legible_text)] = Field(description="Why, e.g. the decision that swaps the day.")


class CalendarOverrideOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: date
    working: bool
    note: str
    updated_by: uuid.UUID | None
    updated_at: datetime


# --- transitions, history, steps, notices --------------------------------------------------------------------

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
                      AfterValidator(legible_text)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), AfterValidator(legible_text)]


# A carrier's consignment number as printed on the label (UPU S10 `EB123456789VN`, or a domestic carrier's
# digits), parts optionally separated by one space, dot, slash, hyphen or underscore: it is typed into the
# carrier's tracking page and printed on the return notice, so no control or invisible characters.
TrackingNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                                  pattern=r"^[0-9A-Za-z]+(?:[ ./_-][0-9A-Za-z]+)*$")]


class DeliveryIn(BaseModel):
    """How the result was handed over (return_result): online, at the desk, or by post with a tracking number."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["online", "desk", "post"]
    tracking_number: TrackingNumber | None = Field(default=None, description="Only, and required, for `post`.")

    @model_validator(mode="after")
    def _tracking_only_by_post(self) -> DeliveryIn:
        if self.method == "post" and not self.tracking_number:
            raise ValueError("a postal return needs the tracking_number")
        if self.method != "post" and self.tracking_number is not None:
            # It would be recorded in the history and printed on the return notice as if the result had been
            # posted.
            raise ValueError(f"a tracking_number is only for a postal return, not {self.method!r}")
        return self


class ExemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: int = Field(ge=0, le=999, description="Index of the fee line in the procedure version's fee_items.")
    reason: ShortText


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,39}$")] = Field(
        description="An action of the dossier's workflow (see `next_actions` on the dossier).")
    reason: Reason | None = None
    items: list[ShortText] = Field(default_factory=list, max_length=100,
                                   description="request_supplement: every missing item, listed at once.")
    new_due_date: LocalDay | None = Field(default=None, description="apologise: the new return date (a working day).")
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    assignee: uuid.UUID | None = None
    delivery: DeliveryIn | None = None
    exemptions: list[ExemptionIn] = Field(default_factory=list, max_length=100)

    @field_validator("exemptions")
    @classmethod
    def _one_exemption_per_line(cls, exemptions: list[ExemptionIn]) -> list[ExemptionIn]:
        if len({e.item for e in exemptions}) != len(exemptions):
            raise ValueError("each fee line may be exempted once")
        return exemptions


class ActorOut(BaseModel):
    id: uuid.UUID | None
    kind: str
    name: str | None


class HistoryEntryOut(BaseModel):
    seq: int
    action: str
    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str
    from_code: int | None
    to_code: int | None
    actor: ActorOut
    at: datetime
    reason: str | None
    details: dict[str, Any] = Field(description=(
        "What the action did (due dates, files, the notices it issued, ...). Outside the agency (the applicant, an "
        "integrator's client) the internal notices (the explanation to the head of the agency) are left out of "
        "`notices`; `hash` covers the entry as recorded, so check the chain with `/history/verify`."))
    prev_hash: str
    hash: str

    model_config = ConfigDict(populate_by_name=True)


class HistoryVerification(BaseModel):
    valid: bool
    entries: int
    first_broken_seq: int | None


class StepOut(BaseModel):
    """A row of the process control slip (form 05); the last one, with `ended_at` null, is the step under way."""

    model_config = ConfigDict(from_attributes=True)

    step: str = Field(description="The step, named after the action that completed it (a stop ends the step "
                                  "under way: that step's name, its history entry the stop's); for the step under "
                                  "way, the one the dossier is expected to complete next.")
    history_seq: int | None = Field(description="The history entry that completed the step; null while under way.")
    holder_id: uuid.UUID | None = Field(description="Who held the dossier: whoever completed the step; for the "
                                                    "step under way, the official it is assigned to (null before "
                                                    "the assignment, and for the return of the result).")
    holder_name: str | None
    started_at: datetime = Field(description="The step's counted start, from which its allowance runs: the "
                                             "hand-over, moved out by the time the dossier then waited on the "
                                             "applicant (a supplement), unless the step had already overrun.")
    handed_over_at: datetime | None = Field(description="When the holder really got the dossier (form 05's time of "
                                                        "hand-over; a supplement wait does not move it; a clock "
                                                        "restarted by a supplement hands it over anew). null for "
                                                        "steps recorded before 2026-12-08.")
    ended_at: datetime | None = Field(description="null: the step under way.")
    allowance_working_days: int | None
    allowance_hours: int | None
    due_at: datetime | None = Field(description="The step's own deadline, from its allowance.")
    overran: bool | None = Field(description="Ended after its deadline; for the step under way, past it already "
                                             "(now, or when a supplement wait began). null: no allowance.")


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    dossier_id: uuid.UUID
    kind: str
    form: str | None = Field(description="Circular 01/2018/TT-VPCP form number (01 receipt ... 04 apology).")
    history_seq: int
    issued_at: datetime
    issued_by_name: str | None
    content: dict[str, Any] = Field(description="The notice as issued; times in Asia/Ho_Chi_Minh (+07:00).")

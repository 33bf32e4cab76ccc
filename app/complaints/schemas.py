"""Pydantic I/O of the complaints domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.core.text import PLAIN, legible_text

ComplaintKindName = Literal["complaint", "feedback"]
ComplaintStateName = Literal["open", "answered"]
# Read by officials and applicants, printed and sent on: text without control characters (tabs and new lines
# allowed), something visible in it.
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
                     AfterValidator(legible_text)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), PLAIN]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComplaintIn(Strict):
    kind: ComplaintKindName = Field(default="complaint", description=(
        "`complaint` (phản ánh: something went wrong in the handling of the dossier) or `feedback` (kiến nghị: a "
        "suggestion or request about it). Decision 766 counts both."))
    text: LongText


class AnswerIn(Strict):
    answer: LongText


class ComplaintRatingIn(Strict):
    satisfied: bool = Field(description="Whether the complainant is satisfied with how the complaint was handled.")
    comment: Comment | None = None


class ComplaintRating(BaseModel):
    satisfied: bool
    comment: str | None
    rated_at: datetime


class ComplaintOut(BaseModel):
    id: uuid.UUID
    dossier_id: uuid.UUID
    agency_code: str
    kind: ComplaintKindName
    text: str
    filed_by: uuid.UUID
    filed_at: datetime
    due_at: datetime = Field(description="When the answer falls due: the end of the working day "
                                         "DVC_COMPLAINT_ANSWER_WORKING_DAYS (10) working days after filing.")
    state: ComplaintStateName
    overdue: bool = Field(description="Open past `due_at`, or answered after it.")
    answer: str | None
    answered_by: uuid.UUID | None
    answered_at: datetime | None
    rating: ComplaintRating | None = Field(description="The complainant's one rating of the answer, once given.")

"""Pydantic I/O of the workflow domain: the working calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)] = Field(
        description="Why, e.g. the decision that swaps the day.")


class CalendarOverrideOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: date
    working: bool
    note: str
    updated_by: uuid.UUID | None
    updated_at: datetime

"""Pydantic I/O of the reporting domain: indicators (Decision 766), snapshots, the public late list, ratings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.text import PLAIN

GroupName = Literal["transparency", "progress", "online_service", "digitisation", "satisfaction"]
GroupBy = Literal["agency", "procedure", "month"]
# Months of the electronic one-stop era (years 2000-2099): year 0 has no calendar.
Period = Annotated[str, StringConstraints(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")]


class Ratio(BaseModel):
    name: str
    numerator: int | float | None = Field(description="What is counted (e.g. dossiers finished on time).")
    denominator: int | None = Field(description="Out of what (e.g. dossiers finished or still open).")
    value: float | None = Field(description="numerator / denominator; null when unavailable or nothing to "
                                            "count. Averages (`scored` false) are in their own unit.")
    available: bool = Field(description="false: the service does not hold the data (e.g. reuse of digitised data); "
                                        "never estimated.")
    scored: bool = Field(description="Whether the ratio counts towards the group's points.")
    note: str | None = None


class Group(BaseModel):
    name: GroupName
    weight: float
    points: float | None = Field(description="weight × the mean of the group's scored ratios that have a "
                                             "value; null when none has.")
    ratios: list[Ratio]


class IndicatorRow(BaseModel):
    agency_code: str | None = None
    procedure_code: str | None = None
    month: str | None = None
    points: float | None = Field(description="The sum of the groups' points.")
    max_points: float = Field(description="The sum of the weights of the groups that have points.")
    groups: list[Group]


class IndicatorReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")
    agency: str | None
    procedure: str | None
    group_by: GroupBy | None
    generated_at: datetime
    open_counted_at: datetime = Field(description=(
        "When the open dossiers (progress: open within / past their due date) were counted: minutes after the "
        "period ended when the worker counted its last day, exactly its end when that count was rebuilt later "
        "from the dossiers' history (after a worker outage, for the last DVC_OPEN_COUNT_BACKFILL_DAYS days), "
        "otherwise when this report was made."))
    weights: dict[str, float]
    total: IndicatorRow
    rows: list[IndicatorRow] = Field(description="One per agency, procedure or month with `group_by`.")


class SnapshotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period = Field(description="The month to freeze, YYYY-MM; it must be over.")


class SnapshotOut(BaseModel):
    period: str
    created_at: datetime
    report: IndicatorReport


class LateOfficial(BaseModel):
    name: str | None
    agency_code: str
    handled: int = Field(description="Dossiers in which they completed a step in the period, plus the open ones "
                                     "whose step under way they held at `open_counted_at`, and the late ones "
                                     "counted for them (late <= handled).")
    late: int = Field(description="Late dossiers in which a step they held overran (the step under way at "
                                  "`open_counted_at` included), or that they held overdue in a step with no "
                                  "allowance.")
    late_share: float | None
    apologised: int
    steps: dict[str, int] = Field(description="Late dossiers per step that overran (the step under way "
                                              "included); `in_progress`: held overdue in a step with no allowance.")


class LateAgency(BaseModel):
    agency_code: str
    agency_name: str | None
    handled: int = Field(description="Dossiers finished in the period plus those open at `open_counted_at`.")
    finished_late: int
    still_overdue: int = Field(description="Open and past their original due date at `open_counted_at`.")
    late: int
    late_share: float | None
    apologised: int = Field(description="Late dossiers that received an apology (form 04).")
    officials: list[LateOfficial]


class LateList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")
    generated_at: datetime
    open_counted_at: datetime = Field(description=(
        "When open dossiers are measured (still overdue, who held them): the end of the period (the midnight "
        "after `to`, local time), or `generated_at` while the period runs."))
    items: list[LateAgency]
    next_cursor: str | None = None


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied).")
    # Read by the agency's officials: text people read, without control characters (a NUL was stored by SQLite and
    # refused by PostgreSQL with a 422 naming no field).
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), PLAIN] | None = None


class RatingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    dossier_id: uuid.UUID
    score: int
    comment: str | None
    created_at: datetime

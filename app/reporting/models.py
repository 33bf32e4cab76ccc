"""Reporting tables: per-day counters, once-per-dossier marks, frozen monthly snapshots, and ratings.

- `reporting_counters`: one row per (agency, procedure, local day) with one column per figure. Rows are
  upserted with `column = column + delta` in the same transaction as the change they count (see counters.py),
  so indicators are sums over at most agencies × procedures × days rows, never a scan of the dossiers.
  Which day a figure lands on: submissions (and what is counted once per dossier: fee-bearing, paid online,
  synced) on the dossier's submission day, so their ratios compare one cohort; finishing on the day the
  result was issued (or the dossier stopped); receptions, supplement requests and ratings on their own day.
- `reporting_dossier_marks`: (dossier, mark) pairs, so a figure counted "once per dossier" is counted once
  even when two obligations are paid online or a status is synced many times.
- `reporting_open_captures` / `reporting_open_counts`: the dossiers open with their clock running at the end of
  each local day, counted by `dvc worker` shortly after midnight, so a report on a period that is over counts
  the dossiers open when it ended rather than those open on the day the report is made. A day a worker outage
  missed is rebuilt later from the dossiers' history (app.reporting.rebuild), its `captured_at` being its end.
- `reporting_indicator_snapshots`: a month's figures frozen at publication (immutable; public).
- `dossier_ratings`: the applicant's one rating of a finished dossier.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base
from app.dossiers.models import Dossier

# The figures kept per (agency, procedure, day). Add a column here and in the migration to count more.
COUNTER_COLUMNS: tuple[str, ...] = (
    "submitted", "submitted_online", "submitted_desk", "submitted_post", "digitised",
    "received", "rejected", "withdrawn", "supplement_requests",
    "finished", "finished_late", "finished_multi_supplement", "finished_late_apologised",
    "processing_working_days", "processing_counted",
    "results_issued", "electronic_results",
    "fee_bearing", "paid_online", "synced",
    "rating_count", "rating_sum", "rating_satisfied",
    # Complaints and feedback (app.complaints): see that domain's service for which day each lands on.
    "complaints_due", "complaints_answered_on_time", "complaint_ratings", "complaint_ratings_satisfied",
    "dossiers_with_complaints",
    "digitised_reused",
)


def _counter() -> Any:
    return mapped_column(BigInteger, default=0, server_default="0")


class ReportingCounter(Base):
    """Sums for one agency, one procedure, one local day (Asia/Ho_Chi_Minh)."""

    __tablename__ = "reporting_counters"
    __table_args__ = (Index("ix_reporting_counters_day", "day", "agency_code"),)

    agency_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    submitted: Mapped[int] = _counter()
    submitted_online: Mapped[int] = _counter()
    submitted_desk: Mapped[int] = _counter()
    submitted_post: Mapped[int] = _counter()
    digitised: Mapped[int] = _counter()  # submitted with its documents as files
    digitised_reused: Mapped[int] = _counter()  # submitted holding a file reused from an earlier one
    received: Mapped[int] = _counter()
    rejected: Mapped[int] = _counter()
    withdrawn: Mapped[int] = _counter()
    supplement_requests: Mapped[int] = _counter()
    finished: Mapped[int] = _counter()  # result issued or processing stopped, after reception
    finished_late: Mapped[int] = _counter()  # after the ORIGINAL due date (an apology does not excuse)
    finished_multi_supplement: Mapped[int] = _counter()  # on time, but more than one supplement request
    finished_late_apologised: Mapped[int] = _counter()
    # Working days from reception to finish less the supplement waits (DOMAIN.md: the applicant's time does not
    # count against the agency), summed over the finished dossiers that recorded it (`processing_counted`).
    processing_working_days: Mapped[int] = _counter()
    processing_counted: Mapped[int] = _counter()
    results_issued: Mapped[int] = _counter()
    electronic_results: Mapped[int] = _counter()  # results issued as digitally signed files
    fee_bearing: Mapped[int] = _counter()
    paid_online: Mapped[int] = _counter()
    synced: Mapped[int] = _counter()
    rating_count: Mapped[int] = _counter()
    rating_sum: Mapped[int] = _counter()
    rating_satisfied: Mapped[int] = _counter()
    # Complaints (app.complaints): due on the day (counted at filing) and of those answered by their due time;
    # answers rated and rated satisfied on the rating's day; dossiers complained about, once, on the first filing.
    complaints_due: Mapped[int] = _counter()
    complaints_answered_on_time: Mapped[int] = _counter()
    complaint_ratings: Mapped[int] = _counter()
    complaint_ratings_satisfied: Mapped[int] = _counter()
    dossiers_with_complaints: Mapped[int] = _counter()


class DossierMark(Base):
    """That a once-per-dossier figure (`fee_bearing`, `paid_online`, `synced`, `dossiers_with_complaints`) was
    counted for a dossier."""

    __tablename__ = "reporting_dossier_marks"

    dossier_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    mark: Mapped[str] = mapped_column(String(32), primary_key=True)


class OpenCountCapture(Base):
    """That the dossiers open at the end of `day` were counted, and when (the primary key: once per day)."""

    __tablename__ = "reporting_open_captures"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    captured_at: Mapped[datetime] = mapped_column()


class OpenCount(Base):
    """Dossiers open with their clock running at the end of a local day, per agency, procedure and month received
    (local "YYYY-MM"), with how many were past their original due date and how many counted as late."""

    __tablename__ = "reporting_open_counts"

    day: Mapped[date] = mapped_column(ForeignKey("reporting_open_captures.day", ondelete="CASCADE"),
                                      primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_month: Mapped[str] = mapped_column(String(7), primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer)


class IndicatorSnapshot(Base):
    """One month's indicators as published; never updated (the API offers no way to)."""

    __tablename__ = "reporting_indicator_snapshots"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    content: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class DossierRating(Base):
    """The applicant's rating of a finished dossier; the primary key makes it once per dossier."""

    __tablename__ = "dossier_ratings"

    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)


# Open dossiers whose clock runs ("overdue still open") are read from the dossiers table by state: a small
# set, found through this index rather than counted (whether they are overdue depends on "now").
Index("ix_dossiers_reporting_open", Dossier.state, Dossier.agency_code)
# The late list reads the dossiers finished in its period (a month by default).
Index("ix_dossiers_reporting_finished", Dossier.finished_at)

# The counters are kept by an ORM flush listener; importing the models (app/core/registry.py does) installs it.
from app.reporting import counters as _counters  # noqa: E402, F401

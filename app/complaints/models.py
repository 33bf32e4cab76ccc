"""Complaints and feedback about a dossier (phản ánh, kiến nghị): filed by the applicant, answered by the agency.

One row per complaint: `open` until an official of the dossier's agency answers it (`answered`), then rated once
by the applicant (satisfied or not). `due_at` is the end of the working day on which the answer falls due,
counted in working days from filing (DVC_COMPLAINT_ANSWER_WORKING_DAYS). `agency_code` and `procedure_code` are
the dossier's, copied so that an agency's list and the reporting counters need no join. `version` is the
optimistic-concurrency counter behind the ETag (app.core.etag).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base


class ComplaintKind(enum.StrEnum):
    complaint = "complaint"  # phản ánh: something went wrong in the handling of the dossier
    feedback = "feedback"  # kiến nghị: a suggestion or request about it


class ComplaintState(enum.StrEnum):
    open = "open"
    answered = "answered"


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (
        # An agency's list, newest first (keyset on filed_at, id), with its state filter.
        Index("ix_complaints_agency_state_filed", "agency_code", "state", "filed_at", "id"),
        Index("ix_complaints_dossier_filed", "dossier_id", "filed_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    agency_code: Mapped[str] = mapped_column(String(64))
    procedure_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    filed_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    due_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default=ComplaintState.open.value)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    satisfied: Mapped[bool | None] = mapped_column(Boolean, default=None)
    rating_comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    rated_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

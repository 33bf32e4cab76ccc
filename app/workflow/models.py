"""Workflow tables: calendar overrides, per-dossier progress, the history chain, internal steps, notices.

- `dossier_progress`: one row per submitted dossier, what the engine needs besides the dossier's own columns
  (the state to return to after a supplement, the original due date, the pause, the assignee, whether the
  dossier was approved) and the head of its history chain (so appending costs no extra query).
- `dossier_history`: append-only (database triggers refuse UPDATE and DELETE); each entry's hash covers the
  previous hash and the entry, so an edit made behind the triggers' back is visible (`verify`).
- `dossier_steps`: the internal process (Circular 01/2018 form 05, process control slip): who held the dossier
  at each completed step, from when to when, against which allowance, and whether the step overran it. Each
  row is written once, with the history entry of the action that completed the step; the step under way is
  not a row but the progress row's `step_*` fields and its assignee (app.workflow.steps).
- `dossier_notices`: the forms issued to the applicant (receipt 01, supplement request 02, refusal 03,
  apology 04, ...) as immutable snapshots; PDFs are rendered from the snapshot.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base, BigIntId

GENESIS_HASH = "0" * 64


class CalendarOverride(Base):
    """A system admin's correction of the working calendar for one date; wins over the `holidays` package.

    `updated_by` is the admin's account id, kept without a foreign key so that the calendar does not
    depend on the identity tables' migration.
    """

    __tablename__ = "calendar_overrides"

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(400), default="")
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)


class DossierProgress(Base):
    """The workflow's memory of one dossier (keyed by the dossier; changed only under the dossier's lock)."""

    __tablename__ = "dossier_progress"

    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), primary_key=True)
    previous_state: Mapped[str | None] = mapped_column(String(32), default=None)
    # The deadline the law gives (reception + processing days, moved out by supplement waits), before any
    # apology's new date: what lateness is measured against.
    original_due_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the dossier fell behind `original_due_at`, kept when a supplement wait begins after it: the wait moves
    # the due date out when it ends, not the lateness (so the late list can tell it was overdue at a past moment).
    late_since: Mapped[datetime | None] = mapped_column(default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_working_days: Mapped[int] = mapped_column(Integer, default=0)
    # Set when processing ends (result issued, or stopped): working days from reception, supplement waits left out.
    processing_working_days: Mapped[int | None] = mapped_column(Integer, default=None)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    supplement_requests: Mapped[int] = mapped_column(Integer, default=0)
    # When the step now under way began (shifted by supplement waits, which are not the official's time).
    step_started_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the holder of that step really got the dossier (never shifted: form 05's time of hand-over).
    step_handed_over_at: Mapped[datetime | None] = mapped_column(default=None)
    # The step under way (app.workflow.steps.next_step: named after the action expected to complete it; None
    # when the agency holds no step, e.g. waiting for fees or ended) and its own deadline from the version's
    # allowance (None: no allowance). Set after every transition, so the late list can judge it in SQL.
    step_under_way: Mapped[str | None] = mapped_column(String(64), default=None)
    step_due_at: Mapped[datetime | None] = mapped_column(default=None)
    history_seq: Mapped[int] = mapped_column(Integer, default=0)
    history_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class HistoryEntry(Base):
    """One state change (or recorded sub-step) of a dossier. Append-only, hash-chained per dossier."""

    __tablename__ = "dossier_history"
    __table_args__ = (UniqueConstraint("dossier_id", "seq"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    from_code: Mapped[int | None] = mapped_column(Integer, default=None)
    to_code: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(400), default=None)
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class StepRecord(Base):
    """One completed step of the internal process and who held the dossier during it."""

    __tablename__ = "dossier_steps"
    __table_args__ = (Index("ix_dossier_steps_dossier", "dossier_id", "ended_at"),
                      Index("ix_dossier_steps_holder", "holder_id", "ended_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"))
    agency_code: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    history_seq: Mapped[int] = mapped_column(Integer)
    holder_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    holder_name: Mapped[str | None] = mapped_column(String(400), default=None)
    started_at: Mapped[datetime]  # the counted start: moved out by supplement waits
    handed_over_at: Mapped[datetime | None] = mapped_column(default=None)  # the real one (None: before 0036)
    ended_at: Mapped[datetime]
    allowance_working_days: Mapped[int | None] = mapped_column(Integer, default=None)
    allowance_hours: Mapped[int | None] = mapped_column(Integer, default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)  # the step's own deadline, if it has one
    overran: Mapped[bool | None] = mapped_column(Boolean, default=None)  # None: no allowance set


class Notice(Base):
    """A form issued to the applicant, frozen at issue (the PDF is rendered from `content`)."""

    __tablename__ = "dossier_notices"
    __table_args__ = (Index("ix_dossier_notices_dossier", "dossier_id", "issued_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    form: Mapped[str | None] = mapped_column(String(8), default=None)
    history_seq: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime]
    issued_by_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    issued_by_name: Mapped[str | None] = mapped_column(String(400), default=None)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)

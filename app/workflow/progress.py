"""What the workflow knows about a dossier besides its own columns, and the rules read from it.

- the pinned version's facts the engine needs (workflow key, processing days, clock rule, result, steps);
- the progress row (created at submission; created here too for dossiers that predate it);
- overdue: nothing finished, and either the clock runs (received or processing) and the due moment has
  passed, or the clock is paused on a supplement request made after the due moment had passed. The wait for a
  supplement is the applicant's (the due date moves out when it ends), so a dossier not yet late when the
  request was made does not become late while it waits; lateness that happened before the request stays
  visible. The list filter, the `overdue` field and the reports (app.reporting) use this one rule; reports
  judging it at the end of a day or period read when the dossier fell behind (`fell_behind_at`);
- late (the law's lateness, Resolution 131, as the reports count it): finished (result issued, returned or
  stopped) after its ORIGINAL due date, or unfinished, its lateness counting (`lateness_counts`) and behind that
  date now (`fell_behind_at`). An apology moves `due_at` (so `overdue`), never the original date: an apologised
  dossier stays late. The `late` field and list filter (`late_clause`, `is_late`) apply it now;
- the apology deadline (Resolution 131): the end of the working day `DVC_APOLOGY_DEADLINE_WORKING_DAYS`
  working days before the due date; an apology sent after it is late (app.workflow.effects.reschedule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, SQLColumnExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.catalogue.models import ProcedureVersion
from app.core.clock import LOCAL_TZ
from app.core.db import field_reader
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.workflow import deadlines
from app.workflow.calendar_service import load_calendar
from app.workflow.models import GENESIS_HASH, DossierProgress

CLOCK_RUNNING_STATES = ("received", "processing")
CLOCK_PAUSED_STATE = "supplement_requested"  # the clock stops at `DossierProgress.paused_at`
FINISHED_STATES = ("processed", "returned", "stopped")  # finished, as the reports count them (not refused, withdrawn)


@dataclass(frozen=True)
class VersionFacts:
    name: str
    workflow: str
    processing_days: int
    clock_on_supplement: str
    result: dict[str, Any]
    step_time_limits: list[Any]
    document_parts: list[Any]
    fee_items: list[Any]

    @property
    def must_be_signed(self) -> bool:
        return bool(self.result.get("must_be_signed", True))


# The version columns the workflow reads; selected with the dossier when it is locked (one round trip).
FACT_COLUMNS = (ProcedureVersion.name, ProcedureVersion.workflow, ProcedureVersion.processing_days,
                ProcedureVersion.clock_on_supplement, ProcedureVersion.result, ProcedureVersion.step_time_limits,
                ProcedureVersion.document_parts, ProcedureVersion.fee_items)


def pinned_version_of(dossier_columns: Any) -> ColumnElement[bool]:
    return ((ProcedureVersion.procedure_code == dossier_columns.procedure_code)
            & (ProcedureVersion.version == dossier_columns.procedure_version))


async def version_facts(session: AsyncSession, dossier: Dossier) -> VersionFacts:
    """The pinned version's workflow facts (one narrow query; versions are history and never change)."""
    row = (await session.execute(select(*FACT_COLUMNS).where(pinned_version_of(dossier)))).one_or_none()
    if row is None:  # versions are never deleted; this is a broken database
        raise RuntimeError(f"pinned version {dossier.procedure_code} v{dossier.procedure_version} is gone")
    return facts_from_row(row)


def facts_from_row(row: Any) -> VersionFacts:
    rule = row.clock_on_supplement if row.clock_on_supplement in ("pause", "restart") else None
    return VersionFacts(name=row.name, workflow=row.workflow or "standard", processing_days=row.processing_days,
                        clock_on_supplement=rule or get_settings().clock_on_supplement_default,
                        result=dict(row.result or {}), step_time_limits=list(row.step_time_limits or []),
                        document_parts=list(row.document_parts or []), fee_items=list(row.fee_items or []))


async def get_progress(session: AsyncSession, dossier: Dossier) -> DossierProgress:
    return ensure_progress(session, dossier, await session.get(DossierProgress, dossier.id))


def ensure_progress(session: AsyncSession, dossier: Dossier, progress: DossierProgress | None) -> DossierProgress:
    """The dossier's progress row, created for dossiers submitted before the workflow kept one."""
    if progress is None:
        progress = DossierProgress(dossier_id=dossier.id, paused_working_days=0, approved=False,
                                   supplement_requests=0, history_seq=0, history_hash=GENESIS_HASH,
                                   original_due_at=dossier.due_at, step_started_at=dossier.submitted_at,
                                   step_handed_over_at=dossier.submitted_at)
        session.add(progress)
    return progress


def with_list_progress(stmt: Select[Any], now: datetime | ColumnElement[datetime]) -> Select[Any]:
    """A dossier list statement with each dossier's original due date, paused working days, pause moment (for
    `is_overdue`) and `late` (`late_clause` at `now`) as more columns, in the same statement (outer join: a draft
    has no progress row)."""
    return (stmt.add_columns(DossierProgress.original_due_at, DossierProgress.paused_working_days,
                             DossierProgress.paused_at, late_clause(now).label("late"))
            .outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id))


def original_due() -> ColumnElement[datetime]:
    """The ORIGINAL due date in SQL (joins the progress row; a dossier without one: its due date)."""
    return func.coalesce(DossierProgress.original_due_at, Dossier.due_at)


def late_when_paused(due: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
    """Waiting on a supplement requested after `due` had passed: late before the pause, so late while it lasts.
    Reads `DossierProgress.paused_at`: the statement must join the progress row."""
    paused_at = DossierProgress.paused_at
    return ((Dossier.state == CLOCK_PAUSED_STATE) & Dossier.finished_at.is_(None) & due.is_not(None)
            & paused_at.is_not(None) & (due < paused_at))


def lateness_counts(due: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
    """The open dossiers whose lateness counts now (reports): the clock runs, or it is paused on a dossier
    already late by `due` when it paused. Joins as `late_when_paused`."""
    return (Dossier.state.in_(CLOCK_RUNNING_STATES) & Dossier.finished_at.is_(None)) | late_when_paused(due)


def fell_behind_at() -> ColumnElement[datetime]:
    """When the dossier fell behind its ORIGINAL due date, in SQL (joins the progress row): `late_since` once a
    supplement wait began after that date (the wait then moves the date out when it ends, not the lateness),
    else the original due date. Reports judge "overdue at a moment" by it: the public late list, the end-of-day
    counts and their rebuild from history (`fell_behind`), so the three agree on a dossier."""
    return func.coalesce(DossierProgress.late_since, DossierProgress.original_due_at, Dossier.due_at)


def fell_behind(late_since: datetime | None, original_due_at: datetime | None) -> datetime | None:
    """`fell_behind_at` on values (a dossier replayed from its history, app.reporting.asof)."""
    return late_since or original_due_at


def overdue_clause(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """The `overdue` rule in SQL (the list filter); the statement must join the progress row (with_list_progress).
    Never NULL, so that `~overdue_clause(...)` is its exact complement."""
    running = (Dossier.due_at.is_not(None) & (Dossier.due_at < now) & Dossier.finished_at.is_(None)
               & Dossier.state.in_(CLOCK_RUNNING_STATES))
    return running | late_when_paused(Dossier.due_at)


def late_clause(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """The `late` rule in SQL (the list's `late` filter and column); joins the progress row (with_list_progress).
    The reports' own clauses: finished late as `finished_late`, open and late as the late list's `still_overdue`
    judged at `now`. Never NULL, so that `~late_clause(...)` is its exact complement."""
    due, behind = original_due(), fell_behind_at()
    finished_late = (Dossier.state.in_(FINISHED_STATES) & Dossier.finished_at.is_not(None) & due.is_not(None)
                     & (Dossier.finished_at > due))
    return finished_late | (lateness_counts(due) & behind.is_not(None) & (behind < now))


def is_late(dossier: Dossier | Mapping[str, Any], now: datetime, *, original_due_at: datetime | None,
            late_since: datetime | None, paused_at: datetime | None) -> bool:
    """`late_clause` on the ORM object (the dossier read) and its progress row's values (None when there is none).
    Kept equal to the clause by tests/workflow/test_late_flag.py."""
    get = field_reader(dossier)
    state, finished_at = get("state"), get("finished_at")
    due = original_due_at or get("due_at")
    if finished_at is not None:
        return state in FINISHED_STATES and due is not None and deadlines.is_overdue(due, finished_at)
    counts = state in CLOCK_RUNNING_STATES or (
        state == CLOCK_PAUSED_STATE and due is not None and paused_at is not None and due < paused_at)
    behind = fell_behind(late_since, due)
    return counts and behind is not None and deadlines.is_overdue(behind, now)


def is_overdue(dossier: Dossier | Mapping[str, Any], now: datetime, *, paused_at: datetime | None) -> bool:
    """The `overdue` rule, on the ORM object or on a row read without it (lists); `paused_at` is the progress
    row's (None when there is none)."""
    get = field_reader(dossier)
    due_at, state = get("due_at"), get("state")
    if due_at is None or get("finished_at") is not None:
        return False
    if state in CLOCK_RUNNING_STATES:
        return deadlines.is_overdue(due_at, now)
    return state == CLOCK_PAUSED_STATE and paused_at is not None and deadlines.is_overdue(due_at, paused_at)


async def apology_deadline(session: AsyncSession, due_at: datetime) -> datetime:
    """The end of the working day N working days before the due date (N = 1 by default)."""
    n = get_settings().apology_deadline_working_days
    due_day = due_at.astimezone(LOCAL_TZ).date()
    calendar = await load_calendar(session, due_day - timedelta(days=n * 2 + 31), due_day)
    return deadlines.end_of_working_day(calendar.add_working_days(due_day, -n))


async def at_risk_cutoff(session: AsyncSession, now: datetime, n: int) -> datetime:
    today = now.astimezone(LOCAL_TZ).date()
    calendar = await load_calendar(session, today, today + timedelta(days=n * 2 + 31))
    return deadlines.at_risk_cutoff(now, n, calendar)

"""What the workflow knows about a dossier besides its own columns, and the rules read from it.

- the pinned version's facts the engine needs (workflow key, processing days, clock rule, result, steps);
- the progress row (created at submission; created here too for dossiers that predate it);
- overdue: the clock runs (received or processing), nothing finished, past due. The list filter and the
  `overdue` field use the same rule; a dossier waiting on a supplement is never overdue (the wait is the
  applicant's, and the due date moves out when it ends);
- the apology deadline (Resolution 131): the end of the working day `DVC_APOLOGY_DEADLINE_WORKING_DAYS`
  working days before the due date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
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
                                   original_due_at=dossier.due_at, step_started_at=dossier.submitted_at)
        session.add(progress)
    return progress


def with_list_progress(stmt: Select[Any]) -> Select[Any]:
    """A dossier list statement with each dossier's original due date and paused working days as two more
    columns, in the same statement (outer join: a draft has no progress row)."""
    return (stmt.add_columns(DossierProgress.original_due_at, DossierProgress.paused_working_days)
            .outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id))


def overdue_clause(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return (Dossier.due_at.is_not(None) & (Dossier.due_at < now) & Dossier.finished_at.is_(None)
            & Dossier.state.in_(CLOCK_RUNNING_STATES))


def is_overdue(dossier: Dossier | Mapping[str, Any], now: datetime) -> bool:
    """The `overdue` rule, on the ORM object or on a row read without it (lists)."""
    get = field_reader(dossier)
    due_at = get("due_at")
    return (due_at is not None and get("finished_at") is None and get("state") in CLOCK_RUNNING_STATES
            and deadlines.is_overdue(due_at, now))


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

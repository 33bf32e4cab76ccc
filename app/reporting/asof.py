"""What a dossier was at a past moment, replayed from its history (append-only, one entry per change).

The dossier's row says what it is now; a report on a period that is over needs what it was when the period
ended. The history entries written before that moment say it: the state is the last entry's `to_state`, and the
clock's effects record what they did in the entry's `details` (app.workflow.effects): `received_at` and `due_at`
when the clock starts or restarts, `supplement_requests` when a supplement wait begins (at the entry's `at`),
`clock: pause` with the moved `due_at` when the wait ends, and an apology's `new_due_at` with the
`original_due_at` it leaves alone.

One value is approximate: a supplement wait that ends after an apology moved the due date moves the ORIGINAL
due date by as long as it moved the apology's date (the entry records only the latter; both are moved by the
same working days, so they differ only when one of them crosses a holiday the other does not). A dossier whose
entries predate these details falls back on its row's reception and due dates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import LOCAL_TZ
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.workflow.models import DossierProgress, HistoryEntry
from app.workflow.progress import CLOCK_PAUSED_STATE, CLOCK_RUNNING_STATES, fell_behind

BATCH = 500  # dossiers whose entries are read per query (bound parameters stay well under every limit)


@dataclass
class AsOf:
    """A dossier at a moment: its state, the reception its clock counts from, its original due date (before any
    apology), whether and since when it waited on a supplement, how many supplements had been asked."""

    state: str | None = None
    received_at: datetime | None = None
    original_due_at: datetime | None = None
    due_at: datetime | None = None
    paused_at: datetime | None = None
    late_since: datetime | None = None
    supplement_requests: int = 0

    def counts(self) -> bool:
        """Open with its lateness counting (app.workflow.progress.lateness_counts): the clock runs, or it waits on
        a supplement asked after the original due date had passed."""
        if self.state in CLOCK_RUNNING_STATES:
            return True
        return (self.state == CLOCK_PAUSED_STATE and self.paused_at is not None
                and self.original_due_at is not None and self.original_due_at < self.paused_at)

    def overdue(self, moment: datetime) -> bool:
        """Behind its original due date at `moment` (when it fell behind, kept across a later supplement wait):
        app.workflow.progress.fell_behind, the rule of the late list and the end-of-day counts."""
        behind = fell_behind(self.late_since, self.original_due_at)
        return behind is not None and behind < moment


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def replay(entries: Iterable[Any]) -> AsOf:
    """The dossier after `entries` (its own history entries or rows with `to_state`, `at` and `details`, in `seq`
    order), as app.workflow.effects left it."""
    now = AsOf()
    for entry in entries:
        now.state = entry.to_state
        details = entry.details or {}
        if "received_at" in details and "due_at" in details:  # the clock started, or restarted on a supplement
            now.received_at = _moment(details["received_at"])
            now.due_at = now.original_due_at = _moment(details["due_at"])
            now.late_since = now.paused_at = None
        elif "new_due_at" in details:  # an apology: a new date for the applicant, lateness still from the original
            now.due_at = _moment(details["new_due_at"])
            now.original_due_at = _moment(details.get("original_due_at")) or now.original_due_at
        elif details.get("clock") == "pause":  # a supplement wait ended: both dates move out by the wait
            moved = _moment(details.get("due_at"))
            if moved is not None and now.due_at is not None and now.original_due_at is not None:
                now.original_due_at += moved - now.due_at
            now.due_at = moved
            now.paused_at = None
        if "supplement_requests" in details:  # a supplement wait began
            now.paused_at = entry.at
            now.supplement_requests = int(details["supplement_requests"])
            if now.late_since is None and now.original_due_at is not None and now.original_due_at < entry.at:
                now.late_since = now.original_due_at
        elif entry.to_state != CLOCK_PAUSED_STATE:
            now.paused_at = None
    return now


async def dossiers_at(session: AsyncSession, ids: list[uuid.UUID], moment: datetime) -> dict[uuid.UUID, AsOf]:
    """Each of `ids` as it was at `moment` (its entries written before it); a dossier with none is left out."""
    out: dict[uuid.UUID, AsOf] = {}
    for first in range(0, len(ids), BATCH):
        batch = ids[first:first + BATCH]
        rows = (await session.execute(
            select(HistoryEntry.dossier_id, HistoryEntry.to_state, HistoryEntry.at, HistoryEntry.details)
            .where(HistoryEntry.dossier_id.in_(batch), HistoryEntry.at < moment)
            .order_by(HistoryEntry.dossier_id, HistoryEntry.seq))).all()
        grouped: dict[uuid.UUID, list[Any]] = {}
        for entry in rows:
            grouped.setdefault(entry.dossier_id, []).append(entry)
        out.update({dossier_id: replay(entries) for dossier_id, entries in grouped.items()})
    return out


OpenKey = tuple[str, str, str]  # (agency, procedure, local month received "YYYY-MM")


async def open_counts_at(session: AsyncSession, boundary: datetime, *, agencies: frozenset[str] | None = None,
                         procedure: str | None = None) -> dict[OpenKey, tuple[int, int, int]]:
    """The dossiers open at `boundary` with their lateness counting, as they were then (their history replayed),
    per agency, procedure and month received: (total, overdue, late), as the end-of-day count has them
    (app.reporting.figures.capture_open_counts). `agencies`/`procedure` narrow it (a report's scope).

    The cost is bounded by the dossiers open at `boundary` (and those open now): the candidates are the dossiers
    received, filed before `boundary` and not finished by it; their entries before it say which were open."""
    stmt = (select(Dossier.id, Dossier.agency_code, Dossier.procedure_code, Dossier.received_at, Dossier.due_at,
                   DossierProgress.original_due_at)
            .outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id)
            .where(Dossier.received_at.is_not(None), Dossier.submitted_at < boundary,
                   or_(Dossier.finished_at.is_(None), Dossier.finished_at >= boundary)))
    if agencies is not None:
        stmt = stmt.where(Dossier.agency_code.in_(sorted(agencies)))
    if procedure is not None:
        stmt = stmt.where(Dossier.procedure_code == procedure)
    candidates = (await session.execute(stmt)).all()
    then = await dossiers_at(session, [row.id for row in candidates], boundary)
    multi_supplement_late = get_settings().indicator_multi_supplement_late
    counts: dict[OpenKey, tuple[int, int, int]] = {}
    for row in candidates:
        asof = then.get(row.id)
        if asof is None:
            continue
        received = asof.received_at or row.received_at  # entries older than their details: the row's dates
        asof.original_due_at = asof.original_due_at or row.original_due_at or row.due_at
        if not asof.counts():
            continue
        overdue = asof.overdue(boundary)
        late = overdue or (multi_supplement_late and asof.supplement_requests > 1)
        key = (row.agency_code, row.procedure_code, received.astimezone(LOCAL_TZ).strftime("%Y-%m"))
        total, n_overdue, n_late = counts.get(key, (0, 0, 0))
        counts[key] = (total + 1, n_overdue + int(overdue), n_late + int(late))
    return counts

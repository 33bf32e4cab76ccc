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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.workflow.models import HistoryEntry
from app.workflow.progress import CLOCK_PAUSED_STATE, CLOCK_RUNNING_STATES

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

    def past_original_due(self, moment: datetime) -> bool:
        """Past its original due date at `moment`: the end-of-day count's `overdue` (app.reporting.figures)."""
        return self.original_due_at is not None and self.original_due_at < moment

    def overdue(self, moment: datetime) -> bool:
        """Behind its original due date at `moment` (when it fell behind, kept across a later supplement wait)."""
        behind = self.late_since or self.original_due_at
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

"""The indicator counters, kept in the same transaction as each change they count.

An `after_flush` listener on every ORM session looks at what the flush wrote: dossiers whose `state`
changed (attribute history), fee obligations created, payment attempts credited. It turns them into deltas
per (agency, procedure, local day) and upserts them with `INSERT ... ON CONFLICT DO UPDATE SET c = c + delta`
on the flush's own connection: a rolled-back change rolls its counts back, and concurrent writers add up in
the database (no read-modify-write in Python). Other domains need no hook; the integration domain calls
`count_synced` and the ratings use `add_counts` directly.

What is counted when (old state -> new state):
- -> submitted from draft (or a dossier created submitted): submitted, by channel (desk/post vs online),
  digitised when it carries document files;
  digitised_reused when one of its files reuses an earlier one (app.dossiers.reuse);
- submitted / payment_requested -> received: received;  -> rejected, -> withdrawn, -> supplement_requested;
- -> processed (result issued) and -> stopped (after reception): finished, late when finished after the
  ORIGINAL due date (dossier_progress.original_due_at: an apology's new date does not excuse), apologised,
  more than one supplement request, processing working days (supplement waits left out); -> processed also
  results issued and electronic (digitally signed) results.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, event, exists, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.core import clock
from app.dossiers.models import Attachment, Dossier
from app.fees.models import FeeObligation, PaymentAttempt
from app.reporting.models import DossierMark, ReportingCounter
from app.workflow.models import DossierProgress, HistoryEntry, Notice

CounterKey = tuple[str, str, date]
TABLE: Table = ReportingCounter.__table__  # type: ignore[assignment]
MARKS: Table = DossierMark.__table__  # type: ignore[assignment]
KEY_COLUMNS = ("agency_code", "procedure_code", "day")
_PENDING = "reporting_counter_deltas"
FINISHING_STATES = frozenset({"processed", "stopped"})
# "Online" as Decision 766 counts it: filed through a portal (ours or the national one), not at the desk.
OFFLINE_CHANNELS = {"desk": "submitted_desk", "post": "submitted_post"}


class Deltas:
    """Counter increments gathered during one flush, merged per key."""

    def __init__(self) -> None:
        self.rows: dict[CounterKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, key: CounterKey, **values: int) -> None:
        row = self.rows[key]
        for name, value in values.items():
            if value:
                row[name] += value

    def merge(self, other: Deltas) -> None:
        for key, row in other.rows.items():
            self.add(key, **row)

    def __bool__(self) -> bool:
        return any(any(v for v in row.values()) for row in self.rows.values())


def local_day(moment: datetime | None) -> date:
    return clock.local(moment or clock.now()).date()


# Statements are built once (per dialect and set of figures) and run with parameters: they run in most
# write transactions, and building one cost more than running it.
@functools.cache
def _upsert_statement(dialect: str, names: tuple[str, ...]) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TABLE).values({name: bindparam(name) for name in (*KEY_COLUMNS, *names)})
    return stmt.on_conflict_do_update(index_elements=list(KEY_COLUMNS),
                                      set_={name: TABLE.c[name] + stmt.excluded[name] for name in names})


def _upsert(dialect: str, key: CounterKey, values: dict[str, int]) -> tuple[Any, dict[str, Any]]:
    names = tuple(sorted(values))
    return _upsert_statement(dialect, names), {**dict(zip(KEY_COLUMNS, key, strict=True)), **values}


def write_deltas(connection: Connection, deltas: Deltas) -> None:
    dialect = connection.dialect.name
    for key in sorted(deltas.rows):  # one order for every writer: no deadlock between two transactions
        values = {k: v for k, v in deltas.rows[key].items() if v}
        if values:
            connection.execute(*_upsert(dialect, key, values))


async def add_counts(session: AsyncSession, key: CounterKey, **values: int) -> None:
    """Add to one counter row from async code (ratings, sync), in the session's transaction."""
    dialect = session.get_bind().dialect.name
    await session.execute(*_upsert(dialect, key, {k: v for k, v in values.items() if v}))


@functools.cache
def _mark_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(MARKS).values(dossier_id=bindparam("dossier_id"), mark=bindparam("mark")).on_conflict_do_nothing()


def _mark_once(connection: Connection, dossier_id: uuid.UUID, mark: str) -> bool:
    """True the first time (dossier, mark) is seen: the once-per-dossier figure should be counted now."""
    result = connection.execute(_mark_statement(connection.dialect.name), {"dossier_id": dossier_id, "mark": mark})
    return bool(result.rowcount == 1)


async def count_synced(session: AsyncSession, dossier: Any) -> None:
    """Count `dossier` as synced to the national portal (once per dossier; later calls do nothing).

    For the integration domain: call it in the transaction that records a successful delivery. `dossier` is
    the Dossier (or anything with id, agency_code, procedure_code, submitted_at)."""
    result = await session.execute(_mark_statement(session.get_bind().dialect.name),
                                   {"dossier_id": dossier.id, "mark": "synced"})
    if getattr(result, "rowcount", 0) == 1:
        await add_counts(session, (dossier.agency_code, dossier.procedure_code, local_day(dossier.submitted_at)),
                         synced=1)


async def mark_once(session: AsyncSession, dossier_id: uuid.UUID, mark: str) -> bool:
    """True the first time (dossier, mark) is recorded, in the session's transaction: a once-per-dossier figure
    (e.g. the complaints domain's `dossiers_with_complaints`) should be counted now."""
    result = await session.execute(_mark_statement(session.get_bind().dialect.name),
                                   {"dossier_id": dossier_id, "mark": mark})
    return bool(getattr(result, "rowcount", 0) == 1)


def _state_change(dossier: Dossier) -> tuple[str | None, str] | None:
    history = sa_inspect(dossier).attrs.state.history
    if not history.added:
        return None
    old = history.deleted[0] if history.deleted else None
    new = history.added[0]
    return (old, new) if old != new else None


def _signed_result(session: Session, dossier_id: uuid.UUID) -> bool:
    for obj in session.new:
        if isinstance(obj, HistoryEntry) and obj.dossier_id == dossier_id and obj.to_state == "processed":
            return bool((obj.details or {}).get("signatures"))
    return False


def _finishing(session: Session, connection: Connection, dossier: Dossier) -> dict[str, int]:
    """The finish figures of a dossier whose result was just issued (or that was just stopped)."""
    progress = connection.execute(select(DossierProgress.original_due_at, DossierProgress.supplement_requests,
                                         DossierProgress.processing_working_days)
                                  .where(DossierProgress.dossier_id == dossier.id)).first()
    original_due = (progress.original_due_at if progress else None) or dossier.due_at
    supplements = progress.supplement_requests if progress else 0
    finished_at = dossier.finished_at or clock.now()
    late = original_due is not None and finished_at > original_due
    apologised = late and connection.execute(select(exists().where(
        Notice.dossier_id == dossier.id, Notice.kind == "apology"))).scalar()
    processing_days = progress.processing_working_days if progress else None
    return {"finished": 1, "finished_late": int(late), "finished_late_apologised": int(bool(apologised)),
            "finished_multi_supplement": int(not late and supplements > 1),
            "processing_working_days": processing_days or 0, "processing_counted": int(processing_days is not None)}


# Whether the dossier carries document files, and whether one of its files reuses an earlier one: one round trip.
_FILES_KEPT = select(exists().where(Attachment.dossier_id == bindparam("dossier_id"), Attachment.kind == "document"),
                     exists().where(Attachment.dossier_id == bindparam("dossier_id"),
                                    Attachment.reused_from.is_not(None)))


def _dossier_deltas(session: Session, connection: Connection, dossier: Dossier, deltas: Deltas) -> None:
    change = _state_change(dossier)
    if change is None:
        return
    old, new = change
    agency, procedure = dossier.agency_code, dossier.procedure_code
    today = (agency, procedure, local_day(None))
    if new == "submitted" and old in (None, "draft"):
        has_files, reused = connection.execute(_FILES_KEPT, {"dossier_id": dossier.id}).one()
        channel_column = OFFLINE_CHANNELS.get(dossier.channel, "submitted_online")
        deltas.add((agency, procedure, local_day(dossier.submitted_at)), submitted=1, digitised=int(bool(has_files)),
                   digitised_reused=int(bool(reused)), **{channel_column: 1})
    elif new == "received" and old in ("submitted", "payment_requested"):
        deltas.add(today, received=1)
    elif new in ("rejected", "withdrawn", "supplement_requested"):
        deltas.add(today, **{"supplement_requests" if new == "supplement_requested" else new: 1})
    if new in FINISHING_STATES and dossier.received_at is not None:
        figures = _finishing(session, connection, dossier)
        if new == "processed":
            figures.update(results_issued=1, electronic_results=int(_signed_result(session, dossier.id)))
        deltas.add((agency, procedure, local_day(dossier.finished_at)), **figures)


_DOSSIER_KEY = (select(Dossier.agency_code, Dossier.procedure_code, Dossier.submitted_at)
                .where(Dossier.id == bindparam("dossier_id")))


def _dossier_key(connection: Connection, dossier_id: uuid.UUID) -> CounterKey | None:
    row = connection.execute(_DOSSIER_KEY, {"dossier_id": dossier_id}).first()
    return None if row is None else (row.agency_code, row.procedure_code, local_day(row.submitted_at))


def _once(connection: Connection, deltas: Deltas, dossier_id: uuid.UUID, mark: str) -> None:
    if _mark_once(connection, dossier_id, mark):
        key = _dossier_key(connection, dossier_id)
        if key is not None:
            deltas.add(key, **{mark: 1})


def _became_credited(attempt: PaymentAttempt) -> bool:
    history = sa_inspect(attempt).attrs.credited.history
    return bool(history.added and history.added[0] and not (history.deleted and history.deleted[0]))


@event.listens_for(Session, "after_flush")
def count_changes(session: Session, _flush_context: Any) -> None:
    """Turn what this flush wrote into counter deltas, written on the same connection (same transaction)."""
    candidates = [o for o in (*session.new, *session.dirty)
                  if isinstance(o, Dossier | FeeObligation | PaymentAttempt)]
    if not candidates:
        return
    connection = session.connection()
    deltas = Deltas()
    for obj in candidates:
        if isinstance(obj, Dossier):
            _dossier_deltas(session, connection, obj, deltas)
        elif isinstance(obj, FeeObligation):
            if obj in session.new and (obj.due or 0) > 0:
                _once(connection, deltas, obj.dossier_id, "fee_bearing")
        elif obj.provider != "counter" and _became_credited(obj):
            _once(connection, deltas, obj.dossier_id, "paid_online")
    if not deltas:
        return
    if session.in_nested_transaction():
        write_deltas(connection, deltas)  # inside a savepoint: written now, so a savepoint rollback undoes them
    else:
        _pending(session).merge(deltas)  # written once, just before COMMIT (see `write_pending_counts`)


def _pending(session: Session) -> Deltas:
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = Deltas()
    return pending


@event.listens_for(Session, "before_commit")
def write_pending_counts(session: Session) -> None:
    """Apply the transaction's counter deltas as late as possible.

    Counter rows are shared (one per agency, procedure and day), and an upsert holds its row lock until
    COMMIT; written at each flush, every submission, reception and online payment of that agency's procedure
    queued behind the whole of the previous transaction. Written here, the lock is held only for the commit.
    """
    session.flush()  # the final flush's changes join the pending deltas first
    pending = session.info.pop(_PENDING, None)
    if pending:
        write_deltas(session.connection(), pending)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending_counts(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the whole transaction ended (a rollback): its deltas never happened
        session.info.pop(_PENDING, None)

"""The dossier history: an append-only, hash-chained log of every state change and recorded sub-step.

hash = SHA-256(prev_hash + canonical JSON of the entry), the first entry's prev_hash being 64 zeros.
Canonical JSON: sorted keys, no spaces, UTF-8, times as ISO 8601 UTC with microseconds. The database refuses
UPDATE and DELETE on the table (triggers, migration 0006); the chain makes an edit behind the triggers' back
visible to `verify`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Text,
    cast,
    exists,
    func,
    literal,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.pagination import PageParams, keyset_page
from app.dossiers.models import Dossier
from app.identity.deps import Principal
from app.workflow.models import GENESIS_HASH, DossierProgress, HistoryEntry


@dataclass(frozen=True)
class ActorRef:
    """Who acted, as history and notices record it."""

    id: uuid.UUID | None
    kind: str  # citizen | organisation | official | client | system
    name: str | None

    @classmethod
    def of(cls, principal: Principal | None, system_name: str = "system") -> ActorRef:
        if principal is None:
            return cls(None, "system", system_name)
        return cls(principal.account_id, principal.kind, principal.name)

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id) if self.id else None, "kind": self.kind, "name": self.name}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_payload(entry: HistoryEntry) -> dict[str, Any]:
    """What the hash covers: everything in the entry except the hashes themselves."""
    return {
        "dossier_id": str(entry.dossier_id), "seq": entry.seq, "action": entry.action,
        "from": entry.from_state, "to": entry.to_state, "from_code": entry.from_code, "to_code": entry.to_code,
        "actor": {"id": str(entry.actor_id) if entry.actor_id else None, "kind": entry.actor_kind,
                  "name": entry.actor_name},
        "at": iso(entry.at), "reason": entry.reason, "details": entry.details or {},
    }


def chain_hash(prev_hash: str, entry: HistoryEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(entry_payload(entry))).encode("utf-8")).hexdigest()


def append(session: AsyncSession, progress: DossierProgress, *, dossier_id: uuid.UUID, action: str,
           from_state: str | None, to_state: str, from_code: int | None, to_code: int | None, actor: ActorRef,
           at: datetime, reason: str | None = None, details: dict[str, Any] | None = None) -> HistoryEntry:
    """Add the next entry of the chain; the progress row holds the chain's head (the dossier is locked)."""
    entry = HistoryEntry(dossier_id=dossier_id, seq=progress.history_seq + 1, action=action,
                         from_state=from_state, to_state=to_state, from_code=from_code, to_code=to_code,
                         actor_id=actor.id, actor_kind=actor.kind, actor_name=actor.name, at=at, reason=reason,
                         details=details or {}, prev_hash=progress.history_hash)
    entry.hash = chain_hash(entry.prev_hash, entry)
    session.add(entry)
    progress.history_seq = entry.seq
    progress.history_hash = entry.hash
    return entry


def record_submission(session: AsyncSession, dossier: Dossier, actor: Principal | None) -> HistoryEntry:
    """The first entry (draft -> submitted) and the dossier's progress row; called by the submit step.

    A draft has no progress row (no workflow action leaves from `draft`; the row is made here), so it is
    created without a read first; the primary key would refuse a second one."""
    progress = DossierProgress(dossier_id=dossier.id, paused_working_days=0, approved=False,
                               supplement_requests=0, history_seq=0, history_hash=GENESIS_HASH)
    session.add(progress)
    at = dossier.submitted_at or clock.now()
    progress.step_started_at = progress.step_handed_over_at = at  # the reception step starts with the submission
    return append(session, progress, dossier_id=dossier.id, action="submit", from_state="draft",
                  to_state=dossier.state, from_code=None, to_code=dossier.national_status_code,
                  actor=ActorRef.of(actor), at=at,
                  details={"channel": dossier.channel, "source": dossier.source, "code": dossier.code})


# Oldest first. `seq` alone is a unique key within one dossier (uq_dossier_history_dossier_id_seq), so a cursor
# on it is stable and the unique index answers each page.
_HISTORY_ORDER = ((HistoryEntry.seq, False),)


async def issued_result_ids(session: AsyncSession, dossier_id: uuid.UUID) -> list[uuid.UUID]:
    """The result files `issue_result` issued (its history entry names them); none before it."""
    details = await session.scalar(select(HistoryEntry.details).where(
        HistoryEntry.dossier_id == dossier_id, HistoryEntry.action == "issue_result")
        .order_by(HistoryEntry.seq.desc()).limit(1))
    return [uuid.UUID(value) for value in (details or {}).get("result_attachments", [])]


async def supplied_ids(session: AsyncSession, dossier_id: uuid.UUID) -> set[uuid.UUID]:
    """The supplement files the `supplement` actions sent (each entry names them): a file uploaded while a
    supplement was requested but left out of the answer was never handed in."""
    rows = await session.scalars(select(HistoryEntry.details).where(
        HistoryEntry.dossier_id == dossier_id, HistoryEntry.action == "supplement"))
    return {uuid.UUID(value) for details in rows for value in (details or {}).get("attachments", [])}


def names_attachment(dialect: str, action: str, key: str, dossier_id: ColumnExpressionArgument[Any],
                     attachment_id: ColumnExpressionArgument[Any]) -> ColumnElement[bool]:
    """SQL: an `action` entry of the dossier names the attachment in its `details[key]` (what `issued_result_ids`
    and `supplied_ids` read per dossier, as a condition for lists over many dossiers). JSON arrays are searched
    in each dialect's way: JSONB `?` on PostgreSQL, `json_each` on SQLite (where a UUID column holds 32 hex
    digits and the JSON the dashed form)."""
    named = exists().where(HistoryEntry.dossier_id == dossier_id, HistoryEntry.action == action)
    if dialect == "postgresql":
        return named.where(type_coerce(HistoryEntry.details, JSONB)[key].has_key(cast(attachment_id, Text)))
    element = func.json_each(HistoryEntry.details, f"$.{key}").table_valued("value")
    return exists(select(literal(1)).select_from(HistoryEntry).join(element, true()).where(
        HistoryEntry.dossier_id == dossier_id, HistoryEntry.action == action,
        func.replace(element.c.value, "-", "") == attachment_id))


async def entries(session: AsyncSession, dossier_id: uuid.UUID) -> list[HistoryEntry]:
    """The whole chain, oldest first: what verifying it needs (the list route reads `entries_page`)."""
    return list((await session.execute(select(HistoryEntry).where(HistoryEntry.dossier_id == dossier_id)
                                       .order_by(HistoryEntry.seq))).scalars())


async def entries_page(session: AsyncSession, dossier_id: uuid.UUID,
                       page: PageParams) -> tuple[list[HistoryEntry], str | None]:
    """One page of the dossier's history, oldest first, and the cursor of the next (None on the last)."""
    stmt = select(HistoryEntry).where(HistoryEntry.dossier_id == dossier_id)
    return await keyset_page(session, stmt, order=_HISTORY_ORDER, params=page, key=lambda e: [e.seq])


@dataclass(frozen=True)
class Verification:
    valid: bool
    entries: int
    first_broken_seq: int | None


@dataclass(frozen=True)
class ChainHead:
    """The last entry's seq and hash as the dossier's progress row keeps them (written with each entry)."""

    seq: int
    hash: str


def verify_chain(rows: list[HistoryEntry], head: ChainHead | None = None) -> Verification:
    """Recompute every hash; the first entry whose seq, link or hash does not match breaks the chain.

    The chain alone cannot show that its last entries were cut off, so it must also end at `head`: an entry
    at the head's seq with another hash breaks there, a chain shorter (or longer) than the head breaks at the
    first seq past the shorter of the two.
    """
    prev = GENESIS_HASH
    for expected_seq, entry in enumerate(rows, start=1):
        if entry.seq != expected_seq or entry.prev_hash != prev or chain_hash(prev, entry) != entry.hash:
            return Verification(False, len(rows), entry.seq)
        if head is not None and entry.seq == head.seq and entry.hash != head.hash:
            return Verification(False, len(rows), entry.seq)
        prev = entry.hash
    if head is not None and len(rows) != head.seq:
        return Verification(False, len(rows), min(len(rows), head.seq) + 1)
    return Verification(True, len(rows), None)


async def verify(session: AsyncSession, dossier_id: uuid.UUID) -> Verification:
    """The dossier's chain checked against the head its progress row keeps.

    Head and entries come from one statement (one snapshot): read apart, a transition committing in between
    would look like a cut or an extra entry.
    """
    stmt = (select(DossierProgress.history_seq, DossierProgress.history_hash, HistoryEntry)
            .select_from(DossierProgress)
            .outerjoin(HistoryEntry, HistoryEntry.dossier_id == DossierProgress.dossier_id)
            .where(DossierProgress.dossier_id == dossier_id).order_by(HistoryEntry.seq))
    rows = (await session.execute(stmt)).all()
    if not rows:  # no progress row: a dossier from before the workflow kept one, so no head to compare
        return verify_chain(await entries(session, dossier_id))
    head = ChainHead(rows[0].history_seq, rows[0].history_hash)
    return verify_chain([row.HistoryEntry for row in rows if row.HistoryEntry is not None], head)

"""Outbox events about representatives' mandates, for the notifications domain (account-level messages).

- `representative.added`, `.changed` (its term), `.removed`: the citizen is told that an organisation gave, changed
  or withdrew their mandate, in the transaction that does it (the audit trail records the same change).
- `representative.expiring`: the organisation is reminded, `DVC_MANDATE_EXPIRY_NOTICE_DAYS` before a term ends,
  to renew it if it should go on; `representative.ending`, emitted with it, tells the citizen the same end (their own
  message: one event has one recipient). Once per term: `expiry_notice_for` holds the term end reminded of, so a
  term the organisation changes (extended, shortened, renewed) may be reminded of again when its new end comes near.
- `representative.started` (to the citizen) and `representative.effective` (to the organisation): a term that starts
  later than it was given (`valid_from`) has begun: the citizen may now act for the organisation. Once per start
  (`start_notice_for` holds the start told of: a start moved later is told of again when it comes); a mandate in
  force from when it was given (no `valid_from`) has none, its `representative.added` said so.
Aggregate `representative` (the mandate's id; a withdrawn one's row is gone, its payload says everything): these
are account data, never a dossier's, so webhooks and the national portal, which take dossier events only, ignore
them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import get_database
from app.core.outbox import emit
from app.core.settings import get_settings
from app.identity.models import Representative

log = logging.getLogger("app.identity.mandates")


def _payload(link: Any) -> dict[str, Any]:
    """The mandate's ids and term, from its row or a returned row of the same columns."""
    return {"representative_id": str(link.id), "organisation_id": str(link.organisation_id),
            "citizen_account_id": str(link.citizen_account_id), "valid_from": clock.utc_text(link.valid_from),
            "valid_until": clock.utc_text(link.valid_until)}


async def announce(session: AsyncSession, event_type: str, link: Representative, **extra: Any) -> None:
    """One of representative.added / .changed / .removed, in the caller's transaction."""
    await emit(session, event_type, aggregate_type="representative", aggregate_id=link.id,
               payload={**_payload(link), **extra})


async def remind_expiring(*, now: datetime | None = None) -> int:
    """Emit `representative.expiring` (to the organisation) and `representative.ending` (to the citizen) for each
    mandate whose term ends within the notice period and has not been reminded of that end; returns how many
    mandates. One compare-and-set UPDATE claims them, in
    the transaction that emits the events: two workers at once claim each mandate once (PostgreSQL re-checks the
    condition on the row the other updated; SQLite serialises writers)."""
    now = now or clock.now()
    horizon = now + timedelta(days=get_settings().mandate_expiry_notice_days)
    table: Table = Representative.__table__  # type: ignore[assignment]
    c = table.c
    # A plain table UPDATE: the ORM would bump the version counter, and a reminder is no change to the mandate.
    claim = (update(table)
             .where(c.valid_until > now, c.valid_until <= horizon,
                    or_(c.expiry_notice_for.is_(None), c.expiry_notice_for != c.valid_until))
             .values(expiry_notice_for=c.valid_until)
             .returning(c.id, c.organisation_id, c.citizen_account_id, c.valid_from, c.valid_until))
    async with get_database().write_sessions() as session, session.begin():
        rows = (await session.execute(claim)).all()
        for row in rows:
            for event_type in ("representative.expiring", "representative.ending"):
                await emit(session, event_type, aggregate_type="representative", aggregate_id=row.id,
                           payload=_payload(row))
    if rows:
        log.info("reminded organisations and representatives of %d mandate(s) ending by %s", len(rows),
                 horizon.isoformat())
    return len(rows)


async def announce_started(*, now: datetime | None = None) -> int:
    """Emit `representative.started` (to the citizen) and `representative.effective` (to the organisation) for each
    mandate whose later start has come, the term not over yet, and not told of that start; returns how many. The same
    compare-and-set claim as `remind_expiring`, so several workers at once tell each start once."""
    now = now or clock.now()
    table: Table = Representative.__table__  # type: ignore[assignment]
    c = table.c
    claim = (update(table)
             .where(c.valid_from.is_not(None), c.valid_from <= now,
                    or_(c.valid_until.is_(None), c.valid_until > now),
                    or_(c.start_notice_for.is_(None), c.start_notice_for != c.valid_from))
             .values(start_notice_for=c.valid_from)
             .returning(c.id, c.organisation_id, c.citizen_account_id, c.valid_from, c.valid_until))
    async with get_database().write_sessions() as session, session.begin():
        rows = (await session.execute(claim)).all()
        for row in rows:
            for event_type in ("representative.started", "representative.effective"):
                await emit(session, event_type, aggregate_type="representative", aggregate_id=row.id,
                           payload=_payload(row))
    if rows:
        log.info("told representatives and organisations of %d mandate(s) now in force", len(rows))
    return len(rows)

"""What the national portal has been told: per dossier, across agencies, and re-sending on demand.

The deliveries of consumer `national_portal` (core's `outbox_deliveries`) are the record; a "failed" delivery
is one still pending after at least one attempt. A replay does not resurrect an old event: it emits
`dossier.sync_replay` with the dossier's state now, which the consumer sends after anything still pending for
that dossier (per-dossier order holds for replays too).

A resync replays, in bulk, every submitted dossier the portal has not acknowledged in its current national
status: never synced, or last acknowledged in another code. It is how the portal catches up after events it
never got: the portal was disabled (`DVC_NATIONAL_PORTAL_ENABLED=false` creates no deliveries), or deliveries
went dead while it was down.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.delivery import PENDING, Delivery
from app.core.outbox import OutboxEvent, emit
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError
from app.core.settings import get_settings
from app.dossiers.access import Viewer, get_dossier_for, lock_dossier
from app.dossiers.models import Dossier, DossierState
from app.identity.deps import Principal
from app.integration.models import DossierSyncStatus, NationalDossier
from app.integration.portal import CONSUMER
from app.integration.schemas import DossierSyncOut, SyncDeliveryOut, SyncReplayOut, SyncResyncOut
from app.workflow.models import DossierProgress

MAX_LISTED = 200


def _delivery_out(delivery: Delivery, event: OutboxEvent) -> SyncDeliveryOut:
    code = event.payload.get("national_status_code")
    return SyncDeliveryOut(
        id=delivery.id, dossier_id=event.aggregate_id, event_type=event.event_type,
        national_status_code=int(code) if code is not None else None, state=delivery.state,
        attempts=delivery.attempts, last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.state == PENDING else None,
        created_at=delivery.created_at, delivered_at=delivery.delivered_at)


def _deliveries() -> Any:
    return (select(Delivery, OutboxEvent).join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .where(Delivery.consumer == CONSUMER))


async def _visible(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID) -> Dossier:
    """Whoever sees the dossier (a representative acting for its applicant too); also integrator clients syncing
    its agency (`dossiers:sync`)."""
    caller = viewer.principal
    if caller.kind == "client" and "dossiers:sync" in caller.scopes:
        dossier = await session.get(Dossier, dossier_id)
        if dossier is not None and dossier.state != DossierState.draft and dossier.agency_code in caller.agency_codes:
            return dossier
    return await get_dossier_for(session, viewer, dossier_id)


async def dossier_sync(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID) -> DossierSyncOut:
    await _visible(session, viewer, dossier_id)
    status = await session.get(DossierSyncStatus, dossier_id)
    national_id = await session.scalar(select(NationalDossier.national_dossier_id)
                                       .where(NationalDossier.dossier_id == dossier_id))
    rows = (await session.execute(_deliveries().where(Delivery.ordering_key == str(dossier_id))
                                  .order_by(Delivery.event_id.desc()).limit(MAX_LISTED))).all()
    return DossierSyncOut(dossier_id=dossier_id, national_dossier_id=national_id,
                          last_synced_code=status.last_synced_code if status else None,
                          synced_at=status.synced_at if status else None,
                          deliveries=[_delivery_out(d, e) for d, e in reversed(rows)])


def _scope(caller: Principal) -> Any:
    """Which dossiers' deliveries the caller may list: everything for a system administrator, else its
    agency (officials) or agencies (clients)."""
    if caller.is_system_admin:
        return None
    if caller.kind == "official":
        return Dossier.agency_code == caller.agency_code if caller.agency_code else false()
    return Dossier.agency_code.in_(sorted(caller.agency_codes)) if caller.agency_codes else false()


async def list_sync(session: AsyncSession, caller: Principal, state: str | None,
                    page: PageParams) -> tuple[list[SyncDeliveryOut], str | None]:
    stmt = _deliveries()
    scope = _scope(caller)
    if scope is not None:
        stmt = stmt.join(Dossier, Dossier.id == OutboxEvent.aggregate_id).where(scope)
    if state == "failed":
        stmt = stmt.where(and_(Delivery.state == PENDING, Delivery.attempts > 0))
    elif state is not None:
        stmt = stmt.where(Delivery.state == state)
    rows, cursor = await keyset_page(session, stmt, order=[(Delivery.id, True)], params=page,
                                     key=lambda row: (row[0].id,), scalars=False)
    return [_delivery_out(d, e) for d, e in rows], cursor


async def _emit_replay(session: AsyncSession, dossier: Dossier, admin: Principal | None) -> OutboxEvent:
    """The dossier's state now, for the portal; the caller holds the dossier's row lock, so no transition can
    commit an older state after this event. `history_seq` (the head of its history) has the processing history
    up to now sent too, what of it the portal has not acknowledged (CapNhatTienDoHoSoMC)."""
    progress = await session.get(DossierProgress, dossier.id)
    return await emit(session, "dossier.sync_replay", aggregate_type="dossier", aggregate_id=dossier.id, payload={
        "dossier_id": str(dossier.id), "code": dossier.code, "state": dossier.state,
        "national_status_code": dossier.national_status_code, "at": clock.utc_text(clock.now()),
        "agency_code": dossier.agency_code, "procedure_code": dossier.procedure_code,
        "due_at": clock.utc_text(dossier.due_at), "history_seq": progress.history_seq if progress else 0,
        "requested_by": str(admin.account_id) if admin else None})


async def replay(session: AsyncSession, admin: Principal, dossier_id: uuid.UUID) -> SyncReplayOut:
    """Queue the dossier's current state for the portal (system administrators)."""
    await get_dossier_for(session, admin, dossier_id)
    dossier = await lock_dossier(session, dossier_id)
    if dossier.national_status_code is None or dossier.code is None:
        raise ProblemError("conflict", "The dossier has not been submitted; there is nothing to sync.")
    event = await _emit_replay(session, dossier, admin)
    return SyncReplayOut(dossier_id=dossier.id, event_id=event.event_id, state=dossier.state,
                         national_status_code=dossier.national_status_code)


def _out_of_step(agency_code: str | None, after: uuid.UUID | None, limit: int) -> Any:
    """Submitted dossiers whose current national code the portal has not acknowledged and for which nothing is
    waiting to be sent, by id, locked.

    Dossiers a transition holds now are skipped (SKIP LOCKED on PostgreSQL; SQLite's write transaction is
    exclusive): that transition emits its own event, which syncs them. So are dossiers whose current code is
    already waiting to be sent (a second resync during an outage would double the backlog); a pending delivery
    of an older code does not count (the dossier may have moved on while the portal was off)."""
    pending = (select(Delivery.id).join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
               .where(Delivery.consumer == CONSUMER, Delivery.state == PENDING,
                      OutboxEvent.aggregate_type == "dossier", OutboxEvent.aggregate_id == Dossier.id,
                      OutboxEvent.payload["national_status_code"].as_integer() == Dossier.national_status_code))
    stmt = (select(Dossier).outerjoin(DossierSyncStatus, DossierSyncStatus.dossier_id == Dossier.id)
            .where(Dossier.code.is_not(None), Dossier.national_status_code.is_not(None),
                   or_(DossierSyncStatus.dossier_id.is_(None),
                       DossierSyncStatus.last_synced_code != Dossier.national_status_code),
                   ~pending.exists()))
    if agency_code is not None:
        stmt = stmt.where(Dossier.agency_code == agency_code)
    if after is not None:
        stmt = stmt.where(Dossier.id > after)
    return (stmt.order_by(Dossier.id).limit(limit).with_for_update(of=Dossier, skip_locked=True)
            .execution_options(populate_existing=True))


async def resync(session: AsyncSession, admin: Principal | None, *, agency_code: str | None,
                 after: uuid.UUID | None = None, limit: int) -> SyncResyncOut:
    """Queue a replay for up to `limit` out-of-step dossiers after `after` (in id order), in the caller's
    transaction; `next_after` is where the next call starts, None once none are left. 409 `portal_disabled`
    while the portal is switched off: the worker would consume the events without sending them."""
    if not get_settings().national_portal_enabled:
        raise ProblemError("portal_disabled", "The national portal is disabled (DVC_NATIONAL_PORTAL_ENABLED=false): "
                                              "enable it first, or the queued states would never be sent.")
    dossiers = list((await session.execute(_out_of_step(agency_code, after, limit + 1))).scalars())
    more = len(dossiers) > limit
    dossiers = dossiers[:limit]
    for dossier in dossiers:
        await _emit_replay(session, dossier, admin)
    return SyncResyncOut(queued=len(dossiers), next_after=dossiers[-1].id if more else None)


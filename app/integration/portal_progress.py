"""The processing history for the national portal (`CapNhatTienDoHoSoMC`): outbox consumer `national_portal_progress`.

Every dossier event the status sync takes (submission, status change, replay) carries `history_seq`, the head of
the dossier's history when it was written. Its progress delivery sends the history entries after those the portal
has acknowledged (the highest `history_seq` of this dossier's delivered progress deliveries) up to that head, one
item per entry, in one call. So the internal steps of processing (assign, appraise, approve), which send no record
(app.integration.portal), still reach the portal as progress; an entry of a delivery that went dead is sent with the
next one; a replay or resync sends whatever is still missing. Nothing new: no call.

The portal takes progress only for a record it holds (OpenCPS and TD send it after the record was accepted): until
the dossier's record has been acknowledged, the delivery fails and is retried on the status sync's schedule. Same
adapter, same settings, same retries as the record (app.integration.portal.NationalPortalConsumer).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import get_database
from app.core.delivery import DELIVERED, Delivery, Target
from app.core.outbox import OutboxEvent
from app.dossiers.models import Dossier
from app.integration.models import DossierSyncStatus, NationalDossier
from app.integration.portal import SYNC_EVENTS, TARGET, NationalPortalConsumer, PortalError
from app.integration.portal_record import load_progress, progress_items

PROGRESS_CONSUMER = "national_portal_progress"


class NationalPortalProgressConsumer(NationalPortalConsumer):
    """One progress delivery per dossier sync event, ordered per dossier."""

    name = PROGRESS_CONSUMER

    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]:
        # An event written before events carried `history_seq` says nothing of the history it follows.
        if (not self.enabled or event.aggregate_type != "dossier" or event.event_type not in SYNC_EVENTS
                or not isinstance(event.payload.get("history_seq"), int)):
            return []
        return [Target(TARGET, ordering_key=str(event.aggregate_id))]

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        up_to = int(event.payload["history_seq"])
        async with get_database().read_sessions() as session:
            row = (await session.execute(
                select(Dossier.code, Dossier.agency_code, NationalDossier.national_dossier_id,
                       DossierSyncStatus.dossier_id.label("acknowledged"))
                .outerjoin(NationalDossier, NationalDossier.dossier_id == Dossier.id)
                .outerjoin(DossierSyncStatus, DossierSyncStatus.dossier_id == Dossier.id)
                .where(Dossier.id == event.aggregate_id))).first()
            if row is None:
                raise PortalError("the dossier no longer exists")
            if row.acknowledged is None:
                raise PortalError("the portal holds no record of the dossier yet")
            after = await _acknowledged_up_to(session, delivery)
            entries, steps = await load_progress(session, event.aggregate_id, after, up_to)
        if entries:
            key = row.national_dossier_id or str(row.code)
            await self.portal.send_progress(row.agency_code, progress_items(key, entries, steps))


async def _acknowledged_up_to(session: AsyncSession, delivery: Delivery) -> int:
    """The history the portal has had: up to the highest `history_seq` of the dossier's earlier delivered progress."""
    acknowledged = await session.scalar(
        select(func.max(OutboxEvent.payload["history_seq"].as_integer()))
        .join(Delivery, Delivery.event_id == OutboxEvent.id)
        .where(Delivery.consumer == PROGRESS_CONSUMER, Delivery.ordering_key == delivery.ordering_key,
               Delivery.state == DELIVERED, Delivery.event_id < delivery.event_id))
    return int(acknowledged or 0)

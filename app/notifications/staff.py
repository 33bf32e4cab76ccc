"""Messages to officials rather than applicants. Today one: `complaint.filed` -> complaint_filed, an email to each
official who may answer the complaint (active, holding reception or processing at the dossier's agency: the roles
app.complaints answers with; a system administrator's rank is no such role), saying when the answer falls due.

Officials have an email address (required when an administrator creates one) and neither a phone number nor
preferences, so email only, in Vietnamese (the agency's working language). Each official is a delivery target of the
notifications consumer of their own (`official:<account id>`, ordered per official): one mailbox that keeps failing
holds back no colleague's, and the outbox's unique (consumer, event, target) row sends each official one message per
complaint however many workers run. No `notification_messages` row: that table is what applicants are shown of their
own messages; the delivery row keeps the state, attempts and last error.

When it is sent, the official is read again: one suspended, moved to another agency or without the roles any more
is not written to, and neither is anyone once the complaint has been answered (the delivery ends unsent,
`Abandoned`). The address is the official's current one. The complaint's text is not in the email: it is read in
the portal, behind the dossier's access rules.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.complaints.models import Complaint, ComplaintState
from app.complaints.service import ANSWERING_ROLES
from app.core.db import get_database
from app.core.delivery import Abandoned, Delivery, Target
from app.core.outbox import OutboxEvent
from app.dossiers.models import Dossier
from app.identity.models import Account, AccountKind, AccountStatus
from app.notifications import channels
from app.notifications.channels.base import ChannelError, OutgoingMessage
from app.notifications.compose import when
from app.notifications.masking import mask
from app.notifications.render import render

log = logging.getLogger("app.notifications")
PREFIX = "official:"
LANGUAGE = "vi"


def is_staff_target(target: str) -> bool:
    return target.startswith(PREFIX)


def _may_answer(official: Account, agency_code: str) -> bool:
    return (official.kind == AccountKind.official and official.status == AccountStatus.active
            and official.agency_code == agency_code and bool(set(official.roles or ()) & set(ANSWERING_ROLES))
            and bool(official.email))


async def staff_targets(session: AsyncSession, event: OutboxEvent) -> list[Target]:
    """One target per official who may answer a filed complaint, when email is configured."""
    if event.event_type != "complaint.filed":
        return []
    if "email" not in channels.active():
        log.info("complaint filed (event %s): email is off, no official is told", event.id)
        return []
    agency_code = str(event.payload["agency_code"])
    officials = (await session.execute(select(Account).where(
        Account.kind == AccountKind.official, Account.agency_code == agency_code,
        Account.status == AccountStatus.active).order_by(Account.id))).scalars().all()
    found = [o for o in officials if _may_answer(o, agency_code)]  # roles are a JSON list: a few rows per agency
    if not found:
        log.warning("complaint filed (event %s): no official of %s holds %s with an email address", event.id,
                    agency_code, " or ".join(ANSWERING_ROLES))
    return [Target(f"{PREFIX}{o.id}", f"{PREFIX}{o.id}") for o in found]


async def _context(session: AsyncSession, official: Account, event: OutboxEvent) -> dict[str, Any]:
    payload = event.payload
    dossier = await session.get(Dossier, uuid.UUID(str(payload["dossier_id"])))
    return {"lang": LANGUAGE, "official_name": official.name, "code": payload.get("code") or "-",
            "complaint_kind": payload.get("kind"),
            "procedure_name": dossier.procedure_name if dossier else "-",
            "agency_name": dossier.agency_name if dossier else "-",
            "applicant_name": dossier.applicant_name if dossier else None,
            "filed_at": when(payload.get("at"), LANGUAGE), "due_at": when(payload.get("due_at"), LANGUAGE)}


async def deliver_to_official(delivery: Delivery, event: OutboxEvent) -> None:
    """Render and send one official's email (read only; the outcome is recorded by the outbox delivery)."""
    official_id = uuid.UUID(delivery.target.removeprefix(PREFIX))
    async with get_database().read_sessions() as session:
        official = await session.get(Account, official_id)
        if official is None or not _may_answer(official, str(event.payload["agency_code"])):
            raise Abandoned("the official no longer answers this agency's complaints")
        complaint = await session.get(Complaint, uuid.UUID(str(event.payload["complaint_id"])))
        if complaint is None or complaint.state != ComplaintState.open.value:
            raise Abandoned("the complaint was answered (or is gone) before its notice went out")
        rendered = render("complaint_filed", LANGUAGE, await _context(session, official, event))
        recipient = str(official.email)
    channel = channels.active().get("email")
    if channel is None:
        raise ChannelError("channel email is not configured any more")
    await channel.send(OutgoingMessage(
        recipient=recipient, subject=rendered.subject, text=rendered.text, html=rendered.html,
        short=rendered.short, dossier_code=event.payload.get("code"),
        reference=f"dvc-{event.event_id}-official-{official_id}"))
    log.info("sent complaint_filed for dossier %s to official %s at %s", event.payload.get("code"), official_id,
             mask(recipient))

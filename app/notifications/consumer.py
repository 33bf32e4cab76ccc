"""The notifications consumer of the outbox (app/core/delivery.py): one delivery target per channel.

Fan-out (`targets`, inside the delivery module's transaction) decides the message and its channels and writes
one `notification_messages` row per channel; the delivery row for (consumer, event, channel) is unique, so a
message is sent at most once per event and channel, however many workers run or retry. Each channel is its own
target with its own ordering key (dossier and channel; an account-level message: account and channel; a message to
an official, app.notifications.staff: that official, without a message row): a channel
that keeps failing delays only its own later messages for that dossier, never another channel's, and never the
dossier itself (the workflow does not wait for notifications). `deliver` renders outside any transaction, records
what it sends, then sends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import get_database
from app.core.delivery import DEAD, Delivery, RunStats, Target, deliver_due, run_consumer
from app.core.outbox import OutboxEvent
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.identity.models import Account
from app.notifications import accounts as account_messages
from app.notifications import channels
from app.notifications.channels.base import Attachment, ChannelError, OutgoingMessage
from app.notifications.compose import context_for, message_for
from app.notifications.masking import mask, mask_text
from app.notifications.models import NotificationMessage
from app.notifications.preferences import REQUIRED_KINDS, Route, account_routes, fallback_route, routes_for
from app.notifications.render import Rendered, render
from app.notifications.staff import deliver_to_official, is_staff_target, staff_targets
from app.workflow import notices as workflow_notices
from app.workflow.models import Notice

log = logging.getLogger("app.notifications")
MAX_DELAY = timedelta(hours=6)


def retry_schedule(max_attempts: int) -> list[timedelta]:
    """1, 3, 9, 27, 81 minutes ... (at most 6 hours): the delays before attempts 2..max_attempts."""
    return [min(timedelta(minutes=3**i), MAX_DELAY) for i in range(max_attempts - 1)]


class NotificationsConsumer:
    name = "notifications"

    def retry_delays(self) -> Sequence[timedelta]:
        return retry_schedule(get_settings().notification_max_attempts)

    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]:
        if event.aggregate_type != "dossier":
            return await _account_targets(session, event)
        staff = await staff_targets(session, event)  # officials told of it (app.notifications.staff)
        found = await message_for(session, event)
        if found is None:
            return staff
        kind, notice = found
        dossier = await session.get(Dossier, event.aggregate_id)
        if dossier is None:
            return []
        routes, language = await routes_for(session, dossier, kind, tuple(channels.active()))
        if not routes:
            level = logging.WARNING if kind in REQUIRED_KINDS else logging.INFO
            log.log(level, "no channel for %s message of dossier %s (event %s)", kind, dossier.code, event.id)
        return [_message(session, event, dossier, route, kind, language, notice.id if notice is not None else None)
                for route in routes] + staff

    async def replacements(self, session: AsyncSession, delivery: Delivery, event: OutboxEvent) -> list[Target]:
        """A legally required message must reach the applicant (issue 10): when its last live channel gives up,
        the next channel it has not tried takes over, with its own message row and delivery."""
        messages = (await session.execute(select(NotificationMessage).where(
            NotificationMessage.event_id == event.id))).scalars().all()
        dead = next((m for m in messages if m.channel == delivery.target), None)
        if dead is None or dead.kind not in REQUIRED_KINDS:
            return []
        if session.get_bind().dialect.name == "postgresql":
            # Two workers giving up on two channels of one event at once each saw the other's as still alive
            # (not committed yet) and neither tried a third: one at a time per event, the second sees the first's
            # outcome. An advisory lock, not row locks: each already holds its own row (row locks deadlocked).
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                  {"key": f"notifications-fallback:{event.id}"})
        rows = (await session.execute(select(Delivery.target, Delivery.state).where(
            Delivery.consumer == self.name, Delivery.event_id == event.id))).all()
        if any(row.state != DEAD and row.target != delivery.target for row in rows):
            return []  # another channel delivered it, or may still
        dossier = await session.get_one(Dossier, dead.dossier_id)
        route = await fallback_route(session, dossier, tuple(channels.active()), {m.channel for m in messages})
        if route is None:
            log.warning("required %s message of dossier %s reached no channel", dead.kind, dossier.code)
            return []
        log.info("required %s message of dossier %s: %s gave up, trying %s", dead.kind, dossier.code,
                 dead.channel, route.channel)
        return [_message(session, event, dossier, route, dead.kind, dead.language, dead.notice_id)]

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        if is_staff_target(delivery.target):
            await deliver_to_official(delivery, event)
            return
        try:
            message, outgoing = await self._prepare(delivery, event)
        except ChannelError:
            raise
        except Exception as error:  # a bug or a missing row: recorded and retried like a channel failure
            log.exception("notification for event %s on %s could not be prepared", event.id, delivery.target)
            raise ChannelError(mask_text(f"{type(error).__name__}: {error}")) from None
        channel = channels.active().get(message.channel)
        if channel is None:
            raise ChannelError(f"channel {message.channel} is not configured any more")
        await channel.send(outgoing)
        log.info("sent %s message for %s on %s to %s", message.kind,
                 f"dossier {outgoing.dossier_code}" if message.dossier_id else f"account {message.account_id}",
                 message.channel, mask(message.recipient))

    async def _prepare(self, delivery: Delivery, event: OutboxEvent) -> tuple[NotificationMessage, OutgoingMessage]:
        """Render (read only), record the rendering (its own short write), then hand back what to send."""
        attachments: list[Attachment] = []
        async with get_database().read_sessions() as session:
            message = (await session.execute(select(NotificationMessage).where(
                NotificationMessage.event_id == event.id, NotificationMessage.channel == delivery.target))
            ).scalar_one()
            if message.dossier_id is None:
                rendered, code = await _render_account_message(session, message, event), None
            else:
                dossier = await session.get_one(Dossier, message.dossier_id)
                notice = await session.get(Notice, message.notice_id) if message.notice_id else None
                context = await context_for(session, message.kind, message.language, dossier, notice, event)
                rendered, code = render(message.kind, message.language, context), dossier.code
                if notice is not None and message.channel == "email":
                    pdf = await workflow_notices.render_pdf(session, notice)  # rendered and signed off the loop
                    attachments.append(Attachment(f"{notice.kind}-{dossier.code or dossier.id}.pdf", pdf))
        async with get_database().write_sessions() as session, session.begin():
            await session.execute(update(NotificationMessage).where(NotificationMessage.id == message.id)
                                  .values(subject=rendered.subject, body=rendered.text))
        outgoing = OutgoingMessage(recipient=message.recipient, subject=rendered.subject, text=rendered.text,
                                   html=rendered.html, short=rendered.short, dossier_code=code,
                                   reference=f"dvc-{event.event_id}-{message.channel}", attachments=attachments)
        return message, outgoing


async def _account_targets(session: AsyncSession, event: OutboxEvent) -> list[Target]:
    """An account-level message (app.notifications.accounts): one row per channel of the recipient account, each
    channel ordered per account (a mandate given, then changed, arrives in that order)."""
    found = account_messages.message_for(event)
    if found is None:
        return []
    kind, account_id = found
    if await session.get(Account, account_id) is None:
        return []  # the account is gone (deleted with its mandates)
    routes, language = await account_routes(session, account_id, tuple(channels.active()))
    if not routes:
        log.info("no channel for %s message to account %s (event %s)", kind, account_id, event.id)
    targets = []
    for route in routes:
        session.add(NotificationMessage(
            event_id=event.id, event_type=event.event_type, channel=route.channel, account_id=account_id,
            kind=kind, language=language, recipient=route.recipient, required=False))
        targets.append(Target(route.channel, f"account:{account_id}:{route.channel}"))
    return targets


async def _render_account_message(session: AsyncSession, message: NotificationMessage,
                                  event: OutboxEvent) -> Rendered:
    assert message.account_id is not None  # the table's check: a message is about a dossier or an account
    recipient = await session.get_one(Account, message.account_id)
    context = await account_messages.context_for(session, message.kind, message.language, recipient, event)
    return render(message.kind, message.language, context)


def _message(session: AsyncSession, event: OutboxEvent, dossier: Dossier, route: Route, kind: str, language: str,
             notice_id: uuid.UUID | None) -> Target:
    """The message row of one channel (what `deliver` renders and records) and its delivery target: each channel
    its own ordering key, so one that keeps failing holds back only its own later messages."""
    session.add(NotificationMessage(
        event_id=event.id, event_type=event.event_type, channel=route.channel, dossier_id=dossier.id, kind=kind,
        language=language, recipient=route.recipient, required=route.required, notice_id=notice_id))
    return Target(route.channel, f"{dossier.id}:{route.channel}")


consumer = NotificationsConsumer()


async def deliver_notifications(*, max_rounds: int = 20) -> RunStats:
    """One worker pass: fan out, then deliver rounds while they make progress.

    A round delivers at most one message per dossier and channel (the next one waits for the earlier one to
    be recorded), so a dossier that moved through several steps since the last pass needs several rounds."""
    total = await run_consumer(consumer)
    last = total
    for _ in range(max_rounds - 1):
        if last.delivered == 0:
            break
        last = await deliver_due(consumer)
        total.delivered += last.delivered
        total.failed += last.failed
        total.dead += last.dead
    return total

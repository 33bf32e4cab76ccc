"""Delivering outbox events to their consumers (national-portal sync, webhooks, notifications).

Each consumer fans events out into delivery rows (one per target: a subscription, a channel, the portal), then
delivers due rows outside any database transaction and records the outcome. Guarantees:

- at most one delivery row per (consumer, event, target): a message is never sent twice for one event and
  target, even with several workers;
- per (consumer, ordering key, target) -- e.g. one dossier's events to one receiver -- a delivery is attempted
  only when no earlier one to that target is still pending, so a later status never overtakes an earlier one
  at that receiver; a target that keeps failing holds back only its own later deliveries, never another
  target's (another subscription, channel or portal);
- failures are retried on the consumer's schedule, then marked `dead` (a consumer with `replacements` may then
  name other targets for the event, in the same transaction); a crash between claim and outcome only delays
  the row until its lease expires;
- a delivery that must never be sent (its receiver may no longer see the event) ends `dead` at once, unsent and
  not retried, when the consumer raises `Abandoned` instead of sending.

Fan-out reads events by id after the consumer's offset. On PostgreSQL ids are allocated before commit, so a gap
in ids may be a transaction still in flight: the offset does not move past a gap until the event after it is
older than `GAP_WAIT` (then the missing id is taken as rolled back). SQLite serialises writers, so ids commit
in order there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from app.core import clock
from app.core.db import Base, BigIntId, get_database
from app.core.outbox import OutboxEvent
from app.core.text import storable_text

log = logging.getLogger("app.delivery")

GAP_WAIT = timedelta(seconds=30)
LEASE = timedelta(seconds=120)
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


class OutboxOffset(Base):
    __tablename__ = "outbox_offsets"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigIntId, default=0)


class Delivery(Base):
    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("consumer", "event_id", "target"),
        Index("ix_outbox_deliveries_due", "consumer", "state", "next_attempt_at"),
        Index("ix_outbox_deliveries_order", "consumer", "ordering_key", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("outbox_events.id"))
    target: Mapped[str] = mapped_column(String(200))
    ordering_key: Mapped[str | None] = mapped_column(String(100), default=None)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class Abandoned(Exception):
    """Raised by `deliver`, before sending, when the delivery must not be sent now or later: it ends dead with this
    message as its last error, without counting an attempt and without retries (a replay asks `deliver` again)."""


@dataclass(frozen=True)
class Target:
    target: str
    ordering_key: str | None = None


class Consumer(Protocol):
    """A destination for outbox events. `deliver` raises to report a failure (its text is recorded). A consumer
    with somewhere else to try may also define `async replacements(session, delivery, event) -> list[Target]`:
    called when a delivery dies, in the transaction that records it (a notification's next channel)."""

    name: str

    def retry_delays(self) -> Sequence[timedelta]:
        """Delay before attempt 2, 3, ...; after the last one fails the delivery is dead."""
        ...

    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]: ...

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        """Send, or raise: `Abandoned` to end the delivery unsent, anything else to fail this attempt."""
        ...


@dataclass
class RunStats:
    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


async def fan_out(consumer: Consumer, *, batch: int = 500) -> int:
    """Create delivery rows for events the consumer has not seen; returns how many rows were created."""
    created = 0
    async with get_database().write_sessions() as session, session.begin():
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(insert(OutboxOffset).values(consumer=consumer.name, last_event_id=0)
                              .on_conflict_do_nothing())
        offset = await session.get_one(OutboxOffset, consumer.name, with_for_update=True)
        events = (await session.execute(
            select(OutboxEvent).where(OutboxEvent.id > offset.last_event_id)
            .order_by(OutboxEvent.id).limit(batch))).scalars().all()
        now = clock.now()
        last = offset.last_event_id
        for event in events:
            if event.id != last + 1 and event.created_at > now - GAP_WAIT:
                break  # an earlier id may still be committing; wait for it
            for target in await consumer.targets(session, event):
                session.add(Delivery(consumer=consumer.name, event_id=event.id, target=target.target,
                                     ordering_key=target.ordering_key, next_attempt_at=now, created_at=now))
                created += 1
            last = event.id
        offset.last_event_id = last
    return created


async def _claim(consumer: Consumer, batch: int) -> list[tuple[Delivery, OutboxEvent]]:
    """Lease due deliveries with nothing earlier pending for the same ordering key and target (SKIP LOCKED on
    PostgreSQL); each row's `next_attempt_at` holds the lease's end (see `_renew`). The "earlier" probe is an
    equality on (consumer, ordering_key) and a range on event_id: the `ix_outbox_deliveries_order` index; the
    target is then compared on that key's few rows (one dossier's events times its targets)."""
    earlier = aliased(Delivery)
    now = clock.now()
    async with get_database().write_sessions() as session, session.begin():
        blocked = exists().where(and_(earlier.consumer == Delivery.consumer,
                                      earlier.ordering_key == Delivery.ordering_key,
                                      earlier.target == Delivery.target,
                                      earlier.event_id < Delivery.event_id, earlier.state == PENDING))
        stmt = (select(Delivery).where(Delivery.consumer == consumer.name, Delivery.state == PENDING,
                                       Delivery.next_attempt_at <= now, ~blocked)
                .order_by(Delivery.event_id, Delivery.id).limit(batch))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Delivery)
        rows = (await session.execute(stmt)).scalars().all()
        if not rows:
            return []
        await session.execute(update(Delivery).where(Delivery.id.in_([r.id for r in rows]))
                              .values(next_attempt_at=now + LEASE))
        events = {e.id: e for e in (await session.execute(
            select(OutboxEvent).where(OutboxEvent.id.in_({r.event_id for r in rows})))).scalars()}
    for row in rows:  # detached now: what the statement above wrote, without another flush
        row.next_attempt_at = now + LEASE
    return [(row, events[row.event_id]) for row in rows]


async def _record(consumer: Consumer, delivery: Delivery, event: OutboxEvent, error: str | None,
                  stats: RunStats, *, abandoned: bool = False) -> None:
    now = clock.now()
    attempts = delivery.attempts + (0 if abandoned else 1)  # an abandoned delivery was not attempted
    values: dict[str, object] = {"attempts": attempts}
    if error is None:
        values.update(state=DELIVERED, delivered_at=now, last_error=None)
        stats.delivered += 1
    else:
        delays = list(consumer.retry_delays())
        # Another system's words (an HTTP error body, a refusal's message): a NUL or a lone surrogate in them made
        # this write fail, so the attempt was never counted and the delivery was sent again forever.
        values["last_error"] = storable_text(error[:2000])
        if abandoned or attempts > len(delays):
            values["state"] = DEAD
            stats.dead += 1
        else:
            values["next_attempt_at"] = now + delays[attempts - 1]
            stats.failed += 1
    async with get_database().write_sessions() as session, session.begin():
        result = await session.execute(update(Delivery).where(Delivery.id == delivery.id, Delivery.state == PENDING)
                                       .values(**values))
        if values.get("state") == DEAD and getattr(result, "rowcount", 0) == 1 and hasattr(consumer, "replacements"):
            for target in await consumer.replacements(session, delivery, event):
                session.add(Delivery(consumer=consumer.name, event_id=event.id, target=target.target,
                                     ordering_key=target.ordering_key, next_attempt_at=now, created_at=now))


async def _renew(delivery: Delivery) -> bool:
    """Extend this worker's lease on `delivery` just before sending it, if it still holds it (compare-and-set on
    the lease's end). A batch is sent one row after another, so a row's lease taken at claim time may run out
    before its turn; another worker may then have claimed it, and sending it here too would send it twice."""
    until = clock.now() + LEASE
    async with get_database().write_sessions() as session, session.begin():
        result = await session.execute(update(Delivery).where(
            Delivery.id == delivery.id, Delivery.state == PENDING, Delivery.next_attempt_at == delivery.next_attempt_at,
        ).values(next_attempt_at=until))
    if getattr(result, "rowcount", 0) != 1:
        return False
    delivery.next_attempt_at = until
    return True


async def deliver_due(consumer: Consumer, *, batch: int = 50) -> RunStats:
    """Attempt every due delivery once (outside database transactions) and record each outcome."""
    stats = RunStats()
    for delivery, event in await _claim(consumer, batch):
        if not await _renew(delivery):  # its lease ran out and another worker has it
            continue
        try:
            await consumer.deliver(delivery, event)
        except Abandoned as verdict:
            log.info("delivery %s to %s abandoned: %s", delivery.id, consumer.name, verdict)
            await _record(consumer, delivery, event, str(verdict), stats, abandoned=True)
        except Exception as error:  # any failure is recorded and retried, never lost
            log.warning("delivery %s to %s failed: %s", delivery.id, consumer.name, error)
            await _record(consumer, delivery, event, f"{type(error).__name__}: {error}", stats)
        else:
            await _record(consumer, delivery, event, None, stats)
    return stats


async def run_consumer(consumer: Consumer) -> RunStats:
    """One worker pass: fan out new events, then deliver what is due."""
    created = await fan_out(consumer)
    stats = await deliver_due(consumer)
    stats.fanned_out = created
    return stats


async def requeue(session: AsyncSession, delivery_id: int) -> bool:
    """Make a failed or dead delivery due again now (replay); in the caller's transaction."""
    result = await session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.state != DELIVERED)
                                   .values(state=PENDING, next_attempt_at=clock.now()))
    return bool(getattr(result, "rowcount", 0))


__all__ = ["DEAD", "DELIVERED", "PENDING", "Abandoned", "Consumer", "Delivery", "OutboxOffset", "RunStats", "Target",
           "deliver_due", "fan_out", "requeue", "run_consumer"]

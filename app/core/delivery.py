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
  the row until its lease (`leased_until`) expires;
- a replay (`requeue`) makes a failed or dead delivery due now with a fresh retry schedule (`attempts` keeps
  counting every attempt; `replays` counts replays), but never one a worker holds the lease of: that one is
  being sent, and making it due again would let another worker send it at the same time;
- a delivery that must never be sent (its receiver may no longer see the event) ends `dead` at once, unsent and
  not retried, when the consumer raises `Abandoned` instead of sending.

Fan-out reads events by id after the consumer's offset. On PostgreSQL ids are allocated before commit, so a gap
in ids may be a transaction still in flight: the offset does not move past a gap until the event after it is
older than `GAP_WAIT`, which keeps events in order in the usual case. Past that wait the offset moves on, but
the missing ids are kept (`outbox_gaps`) with the transactions running at that moment, one of which holds them
if anything does. Each fan-out looks for them again: an event that commits late is fanned out then (after later
events, so out of order), and a gap is forgotten only once every transaction it was waiting for has ended
without writing it (it rolled back). No event is skipped however late it commits. SQLite serialises writers,
so ids commit in order there and a gap is never waited for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    exists,
    or_,
    select,
    text,
    update,
)
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
    # Held by the worker sending it until then; None when no worker holds it.
    leased_until: Mapped[datetime | None] = mapped_column(default=None)
    # Replays start a fresh retry schedule: the attempts made before the last replay do not count towards it.
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    attempts_before_replay: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class OutboxGap(Base):
    """Ids a consumer's offset moved past without seeing them (see the module docstring): looked for again at
    each fan-out until found or until every transaction in `in_flight` (PostgreSQL virtual transaction ids
    running when the gap was noticed) has ended."""

    __tablename__ = "outbox_gaps"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_event_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    last_event_id: Mapped[int] = mapped_column(BigIntId)
    in_flight: Mapped[list[Any]] = mapped_column(default=list)
    noticed_at: Mapped[datetime]


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
    async with get_database().write_sessions() as session, session.begin():
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(insert(OutboxOffset).values(consumer=consumer.name, last_event_id=0)
                              .on_conflict_do_nothing())
        offset = await session.get_one(OutboxOffset, consumer.name, with_for_update=True)
        now = clock.now()
        created = await _recheck_gaps(session, consumer, now)
        events = (await session.execute(
            select(OutboxEvent).where(OutboxEvent.id > offset.last_event_id)
            .order_by(OutboxEvent.id).limit(batch))).scalars().all()
        last = offset.last_event_id
        running: list[str] | None = None
        for event in events:
            if event.id != last + 1:
                if event.created_at > now - GAP_WAIT:
                    break  # an earlier id may still be committing; wait for it
                if running is None:  # read after the events: a transaction ended by now shows in the next look
                    running = sorted(await _running_transactions(session))
                session.add(OutboxGap(consumer=consumer.name, first_event_id=last + 1, last_event_id=event.id - 1,
                                      in_flight=running, noticed_at=now))
            created += await _fan_out_event(session, consumer, event, now)
            last = event.id
        offset.last_event_id = last
    return created


async def _fan_out_event(session: AsyncSession, consumer: Consumer, event: OutboxEvent, now: datetime) -> int:
    targets = await consumer.targets(session, event)
    for target in targets:
        session.add(Delivery(consumer=consumer.name, event_id=event.id, target=target.target,
                             ordering_key=target.ordering_key, next_attempt_at=now, created_at=now))
    return len(targets)


async def _running_transactions(session: AsyncSession) -> set[str]:
    """The other transactions running now in this database, by virtual transaction id: every transaction holds the
    lock on its own from its start to its end, and pg_locks lists it (and pg_stat_activity its database) whatever
    the role. A prepared transaction has no backend: counted too. On SQLite none can be running: fan-out holds the
    only write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return set()
    rows = await session.execute(text(
        "SELECT l.virtualxid FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'virtualxid' AND l.granted AND l.pid IS DISTINCT FROM pg_backend_pid()"
        " AND (l.pid IS NULL OR a.datname = current_database())"))
    return {str(row[0]) for row in rows}


MAX_GAPS_CHECKED = 200


async def _recheck_gaps(session: AsyncSession, consumer: Consumer, now: datetime) -> int:
    """Fan out the events that have appeared in the consumer's gaps; forget a gap once none of the transactions
    it waits for is running (the running ones are read first: one that ended before is seen committed below)."""
    gaps = list((await session.execute(select(OutboxGap).where(OutboxGap.consumer == consumer.name)
                                       .order_by(OutboxGap.first_event_id).limit(MAX_GAPS_CHECKED))).scalars())
    if not gaps:
        return 0
    running = await _running_transactions(session)
    # READ COMMITTED: this statement sees every transaction that ended before it started, so before the line above.
    late = (await session.execute(select(OutboxEvent).where(or_(*(
        OutboxEvent.id.between(gap.first_event_id, gap.last_event_id) for gap in gaps))).order_by(OutboxEvent.id)
    )).scalars().all()
    created = 0
    for event in late:
        log.warning("outbox event %s committed after %s had moved past it; fanned out late", event.id, consumer.name)
        created += await _fan_out_event(session, consumer, event, now)
    found = [event.id for event in late]
    pieces: list[OutboxGap] = []
    for gap in gaps:
        await session.delete(gap)
        if running.isdisjoint(gap.in_flight or []):
            continue  # every transaction that could hold these ids has ended: the rest were rolled back
        first = gap.first_event_id
        for event_id in [i for i in found if gap.first_event_id <= i <= gap.last_event_id] + [gap.last_event_id + 1]:
            if first < event_id:
                pieces.append(OutboxGap(consumer=gap.consumer, first_event_id=first, last_event_id=event_id - 1,
                                        in_flight=list(gap.in_flight), noticed_at=gap.noticed_at))
            first = event_id + 1
    await session.flush()  # the old rows go before their pieces (which may keep a first id)
    session.add_all(pieces)
    return created


def _free(now: datetime) -> Any:
    """No worker holds the delivery's lease (or the one that did let it run out: it crashed)."""
    return or_(Delivery.leased_until.is_(None), Delivery.leased_until <= now)


async def _claim(consumer: Consumer, batch: int) -> list[tuple[Delivery, OutboxEvent]]:
    """Lease due deliveries with nothing earlier pending for the same ordering key and target (SKIP LOCKED on
    PostgreSQL) until `leased_until` (see `_renew`). The "earlier" probe is an equality on (consumer,
    ordering_key) and a range on event_id: the `ix_outbox_deliveries_order` index; the target is then compared on
    that key's few rows (one dossier's events times its targets)."""
    earlier = aliased(Delivery)
    now = clock.now()
    async with get_database().write_sessions() as session, session.begin():
        blocked = exists().where(and_(earlier.consumer == Delivery.consumer,
                                      earlier.ordering_key == Delivery.ordering_key,
                                      earlier.target == Delivery.target,
                                      earlier.event_id < Delivery.event_id, earlier.state == PENDING))
        stmt = (select(Delivery).where(Delivery.consumer == consumer.name, Delivery.state == PENDING,
                                       Delivery.next_attempt_at <= now, _free(now), ~blocked)
                .order_by(Delivery.event_id, Delivery.id).limit(batch))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Delivery)
        rows = (await session.execute(stmt)).scalars().all()
        if not rows:
            return []
        await session.execute(update(Delivery).where(Delivery.id.in_([r.id for r in rows]))
                              .values(leased_until=now + LEASE))
        events = {e.id: e for e in (await session.execute(
            select(OutboxEvent).where(OutboxEvent.id.in_({r.event_id for r in rows})))).scalars()}
    for row in rows:  # detached now: what the statement above wrote, without another flush
        row.leased_until = now + LEASE
    return [(row, events[row.event_id]) for row in rows]


def _held(delivery: Delivery) -> Any:
    """This worker still holds the lease it took (compare-and-set on its end): nobody replayed or re-claimed it."""
    return and_(Delivery.id == delivery.id, Delivery.state == PENDING, Delivery.leased_until == delivery.leased_until)


async def _record(consumer: Consumer, delivery: Delivery, event: OutboxEvent, error: str | None,
                  stats: RunStats, *, abandoned: bool = False) -> None:
    now = clock.now()
    attempts = delivery.attempts + (0 if abandoned else 1)  # an abandoned delivery was not attempted
    values: dict[str, object] = {"attempts": attempts, "leased_until": None}
    if error is None:
        values.update(state=DELIVERED, delivered_at=now, last_error=None)
        stats.delivered += 1
    else:
        delays = list(consumer.retry_delays())
        tries = attempts - delivery.attempts_before_replay  # since the last replay: its schedule is fresh
        # Another system's words (an HTTP error body, a refusal's message): a NUL or a lone surrogate in them made
        # this write fail, so the attempt was never counted and the delivery was sent again forever.
        values["last_error"] = storable_text(error[:2000])
        if abandoned or tries > len(delays):
            values["state"] = DEAD
            stats.dead += 1
        else:
            values["next_attempt_at"] = now + delays[tries - 1]
            stats.failed += 1
    async with get_database().write_sessions() as session, session.begin():
        result = await session.execute(update(Delivery).where(_held(delivery)).values(**values))
        if values.get("state") == DEAD and getattr(result, "rowcount", 0) == 1 and hasattr(consumer, "replacements"):
            for target in await consumer.replacements(session, delivery, event):
                session.add(Delivery(consumer=consumer.name, event_id=event.id, target=target.target,
                                     ordering_key=target.ordering_key, next_attempt_at=now, created_at=now))


async def _renew(delivery: Delivery) -> bool:
    """Extend this worker's lease on `delivery` just before sending it, if it still holds it. A batch is sent one
    row after another, so a row's lease taken at claim time may run out before its turn; another worker may then
    have claimed it, and sending it here too would send it twice."""
    until = clock.now() + LEASE
    async with get_database().write_sessions() as session, session.begin():
        result = await session.execute(update(Delivery).where(_held(delivery)).values(leased_until=until))
    if getattr(result, "rowcount", 0) != 1:
        return False
    delivery.leased_until = until
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


Requeued = Literal["requeued", "delivered", "sending", "missing"]


async def requeue(session: AsyncSession, delivery_id: int) -> Requeued:
    """Replay, in the caller's transaction: a failed or dead delivery becomes due now, with a fresh retry schedule
    (`attempts` keeps the count of every attempt). Not one that succeeded (`delivered`), nor one a worker holds
    the lease of (`sending`): it is being sent, and due again it could be sent twice at once. The update is one
    compare-and-set, so a worker's claim and a replay never both win (on PostgreSQL, each waits for the other's
    row lock and re-reads the row)."""
    now = clock.now()
    result = await session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.state != DELIVERED, _free(now))
        .values(state=PENDING, next_attempt_at=now, leased_until=None, replays=Delivery.replays + 1,
                attempts_before_replay=Delivery.attempts))
    if getattr(result, "rowcount", 0) == 1:
        return "requeued"
    state = await session.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
    return "missing" if state is None else "delivered" if state == DELIVERED else "sending"


__all__ = ["DEAD", "DELIVERED", "PENDING", "Abandoned", "Consumer", "Delivery", "OutboxGap", "OutboxOffset",
           "Requeued", "RunStats", "Target", "deliver_due", "fan_out", "requeue", "run_consumer"]

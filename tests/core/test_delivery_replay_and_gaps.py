"""Outbox delivery: a replay never makes a delivery being sent due again; a replay starts a fresh retry schedule;
an event whose transaction commits long after a later one's is still fanned out (the offset's gaps)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core import delivery as core_delivery
from app.core.db import get_database
from app.core.delivery import (
    DEAD,
    DELIVERED,
    PENDING,
    Delivery,
    OutboxGap,
    Target,
    deliver_due,
    fan_out,
    requeue,
    run_consumer,
)
from app.core.outbox import OutboxEvent, emit
from tests.core.test_delivery import RecordingConsumer

postgres_only = pytest.mark.skipif(not os.environ.get("DVC_TEST_DATABASE_URL"),
                                   reason="SQLite serialises writers: no transaction is in flight beside another")


class HeldConsumer(RecordingConsumer):
    """`deliver` waits for `release` once it has started: a send in progress, for as long as the test likes."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_at_once = 0

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        self.started.set()
        try:
            await self.release.wait()
            await super().deliver(delivery, event)
        finally:
            self.in_flight -= 1


async def _emit(event_type: str = "dossier.submitted") -> None:
    async with get_database().write_sessions() as session, session.begin():
        await emit(session, event_type, aggregate_type="dossier", aggregate_id=uuid.uuid4(), payload={})


async def _replay(delivery_id: int) -> str:
    async with get_database().write_sessions() as session, session.begin():
        return await requeue(session, delivery_id)


async def _rows() -> list[Delivery]:
    async with get_database().read_sessions() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def test_a_replay_while_a_worker_sends_is_refused_and_nothing_is_sent_twice(app) -> None:  # type: ignore[no-untyped-def]
    consumer = HeldConsumer()
    await _emit()
    await fan_out(consumer)
    [row] = await _rows()
    worker = asyncio.create_task(deliver_due(consumer))
    await asyncio.wait_for(consumer.started.wait(), 5)
    assert await _replay(row.id) == "sending"  # it was "due now" again: the next worker sent it a second time
    assert await deliver_due(consumer) == core_delivery.RunStats()
    consumer.release.set()
    assert (await worker).delivered == 1
    assert (consumer.most_at_once, len(consumer.sent)) == (1, 1)
    [row] = await _rows()
    assert (row.state, row.attempts, row.replays, row.leased_until) == (DELIVERED, 1, 0, None)
    assert await _replay(row.id) == "delivered"


async def test_replays_and_workers_racing_a_send_never_send_it_twice(app) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL the replays and the claims are concurrent transactions on the row."""
    consumer = HeldConsumer()
    await _emit()
    await fan_out(consumer)
    [row] = await _rows()
    worker = asyncio.create_task(deliver_due(consumer))
    await asyncio.wait_for(consumer.started.wait(), 5)
    outcomes = await asyncio.gather(*(_replay(row.id) for _ in range(3)),
                                    *(deliver_due(consumer) for _ in range(3)))
    assert outcomes[:3] == ["sending"] * 3
    assert all(stats == core_delivery.RunStats() for stats in outcomes[3:])
    consumer.release.set()
    await worker
    assert (consumer.most_at_once, len(consumer.sent)) == (1, 1)


async def test_a_delivery_whose_worker_crashed_can_be_replayed(app) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer()
    await _emit()
    await fan_out(consumer)
    [row] = await _rows()
    async with get_database().write_sessions() as session, session.begin():  # claimed, then the worker died
        await session.execute(update(Delivery).values(leased_until=clock.now() - timedelta(seconds=1)))
    assert await _replay(row.id) == "requeued"
    await deliver_due(consumer)
    assert [(r.state, r.leased_until) for r in await _rows()] == [(DELIVERED, None)]


class SlowRetries(RecordingConsumer):
    def retry_delays(self) -> Sequence[timedelta]:
        return [timedelta(minutes=1), timedelta(minutes=5)]


async def _make_due() -> None:
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(Delivery).where(Delivery.state == PENDING).values(next_attempt_at=clock.now()))


async def test_a_replayed_dead_delivery_gets_a_fresh_retry_schedule(app) -> None:  # type: ignore[no-untyped-def]
    consumer = SlowRetries(fail=100)
    await _emit()
    for _ in range(3):
        await run_consumer(consumer)
        await _make_due()
    [row] = await _rows()
    assert (row.state, row.attempts, row.replays) == (DEAD, 3, 0)

    assert await _replay(row.id) == "requeued"
    before = clock.now()
    await run_consumer(consumer)
    [row] = await _rows()
    # It died again at once before: one more try, never the schedule a new delivery gets.
    assert (row.state, row.attempts, row.replays) == (PENDING, 4, 1)
    assert timedelta(seconds=55) < row.next_attempt_at - before < timedelta(seconds=65)  # the first retry's delay
    await _make_due()
    await run_consumer(consumer)
    assert [(r.state, r.attempts) for r in await _rows()] == [(PENDING, 5)]
    await _make_due()
    await run_consumer(consumer)
    [row] = await _rows()
    assert (row.state, row.attempts, row.replays) == (DEAD, 6, 1)  # every attempt still counted
    assert row.last_error == "ConnectionError: portal down"


# --- gaps ---------------------------------------------------------------------------------------------------

async def _insert_event(event_id: int, *, age: timedelta = timedelta(minutes=1)) -> None:
    """An event with a chosen id, as a transaction that drew it and committed `age` ago leaves it."""
    async with get_database().write_sessions() as session, session.begin():
        session.add(OutboxEvent(id=event_id, event_id=uuid.uuid4(), event_type="dossier.submitted",
                                aggregate_type="dossier", aggregate_id=uuid.uuid4(), payload={},
                                created_at=clock.now() - age))


async def _gaps() -> list[tuple[int, int]]:
    async with get_database().read_sessions() as session:
        rows = await session.execute(select(OutboxGap.first_event_id, OutboxGap.last_event_id)
                                     .order_by(OutboxGap.first_event_id))
        return [(r[0], r[1]) for r in rows]


async def _sent_ids(consumer: RecordingConsumer) -> list[int]:
    return sorted(event_id for _, _, event_id in consumer.sent)


async def test_an_event_committed_after_the_gap_wait_is_still_delivered(app) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer()
    await _insert_event(1)
    await _insert_event(3)
    await _insert_event(6)
    await run_consumer(consumer)  # ids 2, 4 and 5 are missing, past the wait: the offset moves on, remembering them
    assert await _sent_ids(consumer) == [1, 3, 6]
    assert await _gaps() == [(2, 2), (4, 5)]
    await _insert_event(5, age=timedelta(minutes=10))  # its transaction commits now
    await run_consumer(consumer)
    assert await _sent_ids(consumer) == [1, 3, 5, 6]  # it was skipped for good before
    await run_consumer(consumer)
    assert await _gaps() == []  # nothing was writing the other ids: rolled back, forgotten
    assert await _sent_ids(consumer) == [1, 3, 5, 6]


class Quiet(RecordingConsumer):
    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]:
        return []


async def test_gaps_are_kept_per_consumer(app) -> None:  # type: ignore[no-untyped-def]
    """A consumer with no target for an event still moves past it; another consumer's gaps are its own."""
    quiet, loud = Quiet(name="quiet"), RecordingConsumer(name="loud")
    await _insert_event(1)
    await _insert_event(3)
    await fan_out(quiet)
    await _insert_event(2, age=timedelta(minutes=5))
    await fan_out(loud)  # it never saw a gap: id 2 was there when it read
    await fan_out(quiet)
    await deliver_due(loud)
    assert await _sent_ids(loud) == [1, 2, 3]
    assert await _gaps() == []


@postgres_only
async def test_a_transaction_committing_long_after_a_later_one_loses_nothing(  # type: ignore[no-untyped-def]
        app, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real transactions: one draws an id and stays open past the gap wait while a later event commits."""
    monkeypatch.setattr(core_delivery, "GAP_WAIT", timedelta(0))  # the 30 s have passed
    consumer = RecordingConsumer()
    for outcome in ("commit", "rollback"):
        consumer.sent.clear()
        async with get_database().write_sessions() as slow:
            await slow.begin()
            await emit(slow, "slow", aggregate_type="dossier", aggregate_id=uuid.uuid4(), payload={})
            await slow.flush()  # its id is drawn; the row is not visible to anyone else
            await _emit("fast")
            await run_consumer(consumer)
            assert [e for _, e, _ in consumer.sent] == ["fast"]
            [gap] = await _gaps()
            await run_consumer(consumer)
            assert await _gaps() == [gap]  # its transaction is still running: still waited for
            await (slow.commit() if outcome == "commit" else slow.rollback())
        await run_consumer(consumer)
        assert [e for _, e, _ in consumer.sent] == (["fast", "slow"] if outcome == "commit" else ["fast"])
        assert await _gaps() == []

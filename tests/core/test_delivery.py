"""Outbox delivery: fan-out once per target, retries then dead, per-key ordering, crash safety."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import get_database
from app.core.delivery import (
    DEAD,
    DELIVERED,
    PENDING,
    Abandoned,
    Delivery,
    Target,
    deliver_due,
    fan_out,
    run_consumer,
)
from app.core.outbox import OutboxEvent, emit


class RecordingConsumer:
    def __init__(self, name: str = "test", targets: Sequence[str] = ("a",), fail: int = 0) -> None:
        self.name = name
        self._targets = targets
        self.fail_remaining = fail
        self.sent: list[tuple[str, str, int]] = []

    def retry_delays(self) -> Sequence[timedelta]:
        return [timedelta(0), timedelta(0)]

    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]:
        return [Target(t, ordering_key=str(event.aggregate_id)) for t in self._targets]

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        if self.fail_remaining > 0:
            self.fail_remaining -= 1
            raise ConnectionError("portal down")
        self.sent.append((delivery.target, event.event_type, event.id))


async def _emit(event_type: str, aggregate_id: uuid.UUID) -> None:
    async with get_database().write_sessions() as session, session.begin():
        await emit(session, event_type, aggregate_type="dossier", aggregate_id=aggregate_id, payload={})


async def _states() -> list[tuple[str, int]]:
    async with get_database().read_sessions() as session:
        rows = await session.execute(select(Delivery.state, Delivery.attempts).order_by(Delivery.id))
        return [(r[0], r[1]) for r in rows]


async def test_each_event_reaches_each_target_once(app) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer(targets=("email", "sms"))
    dossier = uuid.uuid4()
    await _emit("dossier.submitted", dossier)
    await _emit("dossier.status_changed", dossier)
    await run_consumer(consumer)
    await run_consumer(consumer)  # nothing new, nothing resent
    await run_consumer(consumer)
    assert sorted((t, e) for t, e, _ in consumer.sent) == sorted([
        ("email", "dossier.submitted"), ("sms", "dossier.submitted"),
        ("email", "dossier.status_changed"), ("sms", "dossier.status_changed")])
    assert len(consumer.sent) == 4


async def test_failures_retry_then_die_and_are_kept(app) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer(fail=10)
    await _emit("dossier.submitted", uuid.uuid4())
    for _ in range(3):
        await run_consumer(consumer)
    assert await _states() == [(DEAD, 3)]
    assert consumer.sent == []


class AbandoningConsumer(RecordingConsumer):
    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        raise Abandoned("not sent: receiver may no longer see it")


async def test_an_abandoned_delivery_dies_at_once_unsent_and_unretried(app) -> None:  # type: ignore[no-untyped-def]
    consumer = AbandoningConsumer()
    dossier = uuid.uuid4()
    await _emit("first", dossier)
    await _emit("second", dossier)
    stats = await run_consumer(consumer)
    assert (stats.dead, stats.failed) == (1, 0)
    for _ in range(3):  # retry delays are zero: a retried delivery would be attempted again here
        await run_consumer(consumer)
    assert await _states() == [(DEAD, 0), (DEAD, 0)]  # no attempt counted; the second was not held back
    async with get_database().read_sessions() as session:
        errors = (await session.execute(select(Delivery.last_error))).scalars().all()
    assert errors == ["not sent: receiver may no longer see it"] * 2


async def test_a_later_event_never_overtakes_an_earlier_one(app) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer(fail=1)
    dossier = uuid.uuid4()
    await _emit("first", dossier)
    await _emit("second", dossier)
    await run_consumer(consumer)  # first fails; second must wait behind it
    assert consumer.sent == []
    assert [s for s, _ in await _states()] == [PENDING, PENDING]
    await run_consumer(consumer)
    await run_consumer(consumer)
    assert [e for _, e, _ in consumer.sent] == ["first", "second"]


async def test_concurrent_workers_fan_out_and_deliver_once(app) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer()
    for _ in range(5):
        await _emit("dossier.submitted", uuid.uuid4())
    await asyncio.gather(*(fan_out(consumer) for _ in range(4)))
    await asyncio.gather(*(deliver_due(consumer) for _ in range(4)))
    assert len(consumer.sent) == 5
    async with get_database().read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 5


async def test_a_crash_after_claim_only_delays_the_delivery(app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    consumer = RecordingConsumer()
    await _emit("dossier.submitted", uuid.uuid4())
    await fan_out(consumer)

    async def crash(delivery: Delivery, event: OutboxEvent) -> None:
        raise SystemExit("worker killed")  # not an Exception: nothing is recorded

    monkeypatch.setattr(consumer, "deliver", crash)
    with pytest.raises(SystemExit):
        await deliver_due(consumer)
    monkeypatch.undo()
    assert await deliver_due(consumer) == type(await deliver_due(consumer))()  # leased: not due yet
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(Delivery).values(leased_until=clock.now()))  # the lease runs out
    await deliver_due(consumer)
    assert [s for s, _ in await _states()] == [DELIVERED]


class PerTargetFailingConsumer(RecordingConsumer):
    """Every delivery to `failing` fails; the other targets answer."""

    def __init__(self, targets: Sequence[str], failing: str) -> None:
        super().__init__(targets=targets)
        self.failing = failing

    def retry_delays(self) -> Sequence[timedelta]:
        return [timedelta(days=1)] * 5  # the failing target's first event stays pending a long while

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        if delivery.target == self.failing:
            raise ConnectionError("receiver down")
        self.sent.append((delivery.target, event.event_type, event.id))


async def test_a_failing_target_does_not_hold_back_another_targets_events(app) -> None:  # type: ignore[no-untyped-def]
    """Ordering is per (consumer, ordering key, target): b's later event does not wait for a's earlier one."""
    consumer = PerTargetFailingConsumer(targets=("a", "b"), failing="a")
    dossier = uuid.uuid4()
    await _emit("first", dossier)
    await run_consumer(consumer)  # a fails and is retried in a day; b gets "first"
    await _emit("second", dossier)
    await run_consumer(consumer)
    assert [(t, e) for t, e, _ in consumer.sent] == [("b", "first"), ("b", "second")]
    async with get_database().read_sessions() as session:
        rows = (await session.execute(select(Delivery.target, Delivery.state, Delivery.attempts)
                                      .order_by(Delivery.event_id, Delivery.target))).all()
    assert [tuple(r) for r in rows] == [("a", PENDING, 1), ("b", DELIVERED, 1), ("a", PENDING, 0),
                                        ("b", DELIVERED, 1)]  # a's second still waits behind a's first

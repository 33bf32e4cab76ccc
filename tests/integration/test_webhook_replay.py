"""Replaying a webhook delivery over HTTP: never one being sent at that moment (409 delivery_in_progress), and a
replayed dead delivery gets the whole retry schedule again, its earlier attempts still counted."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.core.delivery import DEAD, DELIVERED, PENDING, deliver_due, fan_out
from app.integration.webhooks import CONSUMER, WebhookConsumer
from tests.integration.conftest import PUBLIC_IP, FakeDns, deliveries, make_due, submitted_dossier
from tests.integration.test_webhooks import URL, Receiver, _subscribe
from tests.support.identity_fixtures import DEFAULT_AGENCY


class SlowReceiver:
    """Answers 204 once `release` is set: a delivery in flight while the test replays it."""

    def __init__(self) -> None:
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.requests: list[httpx.Request] = []
        self.consumer = WebhookConsumer(httpx.MockTransport(self._handle))

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.started.set()
        await self.release.wait()
        return httpx.Response(204)


@pytest.fixture
def receiver(dns: FakeDns) -> Receiver:
    dns.set("hooks.example.com", PUBLIC_IP)
    return Receiver()


async def _subscribed(client: Any, accounts: Any) -> tuple[Any, dict[str, Any]]:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator, event_types=("dossier.submitted",))).json()
    return integrator, hook


async def test_a_delivery_being_sent_is_not_replayed(client, accounts, dossiers, dns: FakeDns) -> None:  # type: ignore[no-untyped-def]
    dns.set("hooks.example.com", PUBLIC_IP)
    receiver = SlowReceiver()
    integrator, hook = await _subscribed(client, accounts)
    await submitted_dossier(client, accounts, dossiers)
    await fan_out(receiver.consumer)
    [row] = await deliveries(CONSUMER)
    worker = asyncio.create_task(deliver_due(receiver.consumer))
    await asyncio.wait_for(receiver.started.wait(), 5)
    replay_path = f"/v1/webhooks/{hook['id']}/deliveries/{row.id}/replay"
    answer = await client.post(replay_path, headers=integrator.headers)
    assert (answer.status_code, answer.json()["code"]) == (409, "delivery_in_progress")
    await deliver_due(receiver.consumer)  # another worker: nothing is due
    receiver.release.set()
    await worker
    assert len(receiver.requests) == 1
    assert [d.state for d in await deliveries(CONSUMER)] == [DELIVERED]
    assert (await client.post(replay_path, headers=integrator.headers)).json()["code"] == "conflict"


async def test_a_replayed_dead_delivery_is_retried_on_the_whole_schedule(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                          receiver: Receiver) -> None:
    integrator, hook = await _subscribed(client, accounts)
    await submitted_dossier(client, accounts, dossiers)
    receiver.status = 500
    await receiver.run()
    for _ in range(5):
        await make_due()
        await receiver.run()
    [row] = await deliveries(CONSUMER)
    assert (row.state, row.attempts, row.replays) == (DEAD, 6, 0)
    replay_path = f"/v1/webhooks/{hook['id']}/deliveries/{row.id}/replay"
    replayed = await client.post(replay_path, headers=integrator.headers)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["state"], replayed.json()["attempts"], replayed.json()["replays"]) == ("pending", 6, 1)
    for attempt in range(7, 12):  # the replay's try and four of the five retries fail: still pending
        await make_due()
        await receiver.run()
        [row] = await deliveries(CONSUMER)
        assert (row.state, row.attempts) == (PENDING, attempt)
    await make_due()
    await receiver.run()
    [entry] = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=integrator.headers)).json()["items"]
    assert (entry["state"], entry["attempts"], entry["replays"]) == ("dead", 12, 1)
    assert len(receiver.requests) == 12 and str(receiver.requests[0].url) == URL

"""Webhooks, audit of session 11: ordering per subscription, the `dossiers:read` scope, deleted logs readable."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.core.delivery import DEAD, DELIVERED, PENDING, fan_out
from app.integration.webhooks import CONSUMER
from tests.integration.conftest import PUBLIC_IP, FakeDns, deliveries, make_due, receive, submitted_dossier
from tests.integration.test_webhooks import Receiver
from tests.support.identity_fixtures import DEFAULT_AGENCY

GOOD_URL = "https://good.example.com/dvc"
BAD_URL = "https://bad.example.com/dvc"
EVENTS = ["dossier.submitted", "dossier.status_changed"]


class Receivers(Receiver):
    """Two receivers behind one httpx.MockTransport: `bad.example.com` answers 500, the rest 200."""

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500 if request.url.host == "bad.example.com" else 200)

    def received(self, host: str) -> list[str]:
        return [json.loads(r.content)["type"] for r in self.requests if r.url.host == host]


@pytest.fixture
def receivers(dns: FakeDns) -> Receivers:
    dns.set("good.example.com", PUBLIC_IP)
    dns.set("bad.example.com", PUBLIC_IP)
    return Receivers()


async def _subscribe(client: Any, actor: Any, url: str = GOOD_URL) -> httpx.Response:
    response: httpx.Response = await client.post("/v1/webhooks", json={"url": url, "event_types": EVENTS},
                                                 headers=actor.headers)
    return response


async def test_a_failing_subscriber_does_not_hold_back_another_subscribers_events(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receivers: Receivers) -> None:
    failing = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    healthy = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    assert (await _subscribe(client, failing, BAD_URL)).status_code == 201
    assert (await _subscribe(client, healthy, GOOD_URL)).status_code == 201
    dossier = await submitted_dossier(client, accounts, dossiers)
    await receivers.run()  # bad's dossier.submitted fails: retried in a minute
    await receive(client, await accounts.official(DEFAULT_AGENCY, ["reception"]), dossier["id"])
    await receivers.run()
    assert receivers.received("good.example.com") == EVENTS  # not held back for a day behind bad's failure
    assert receivers.received("bad.example.com") == ["dossier.submitted"]  # bad's own order still holds
    rows = await deliveries(CONSUMER)
    assert sorted(r.state for r in rows) == sorted([DELIVERED, DELIVERED, PENDING, PENDING])


async def test_subscribing_needs_the_dossiers_read_scope(client, accounts, receivers: Receivers) -> None:  # type: ignore[no-untyped-def]
    reports_only = await accounts.client(["reports:read"], [DEFAULT_AGENCY])
    response = await _subscribe(client, reports_only)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "scope_missing"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/webhooks", headers=reports_only.headers)).json()["items"] == []
    reader = await accounts.client(["dossiers:read", "reports:read"], [DEFAULT_AGENCY])
    assert (await _subscribe(client, reader)).status_code == 201


async def test_a_client_that_lost_dossiers_read_receives_no_more_events(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receivers: Receivers) -> None:
    integrator = await accounts.client(["dossiers:read", "reports:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    admin = await accounts.admin()
    changed = await client.patch(f"/v1/clients/{integrator.id}", json={"scopes": ["reports:read"]},
                                 headers={**admin.headers, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    await submitted_dossier(client, accounts, dossiers)
    await receivers.run()
    assert receivers.requests == []
    assert await deliveries(CONSUMER) == []
    # it still manages what it has: sees and deletes its subscription
    assert (await client.get(f"/v1/webhooks/{hook['id']}", headers=integrator.headers)).status_code == 200
    assert (await client.delete(f"/v1/webhooks/{hook['id']}", headers=integrator.headers)).status_code == 204


async def test_a_deleted_subscriptions_delivery_log_stays_readable(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receivers: Receivers) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator, BAD_URL)).json()
    await submitted_dossier(client, accounts, dossiers)
    await receivers.run()
    path = f"/v1/webhooks/{hook['id']}"
    assert (await client.delete(path, headers=integrator.headers)).status_code == 204
    log = await client.get(f"{path}/deliveries", headers=integrator.headers)
    assert log.status_code == 200, log.text
    [entry] = log.json()["items"]
    assert (entry["state"], entry["attempts"], entry["last_error"]) == (DEAD, 1, "subscription deleted")
    # reads only: the subscription itself, a replay and a second delete still answer 404
    assert (await client.get(path, headers=integrator.headers)).status_code == 404
    replay = await client.post(f"{path}/deliveries/{entry['id']}/replay", headers=integrator.headers)
    assert replay.status_code == 404 and replay.json()["code"] == "not_found"
    assert (await client.delete(path, headers=integrator.headers)).status_code == 404
    assert [d.state for d in await deliveries(CONSUMER)] == [DEAD]
    # and only for its owner
    stranger = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    assert (await client.get(f"{path}/deliveries", headers=stranger.headers)).status_code == 404


@pytest.mark.parametrize(("change", "reason"), [
    ({"scopes": ["reports:read"]}, "not sent: client no longer holds the dossiers:read scope"),
    ({"agency_codes": ["000.00.55.H01"]}, f"not sent: client no longer acts for agency {DEFAULT_AGENCY}"),
    ({"status": "suspended"}, "not sent: client suspended"),
])
async def test_deliveries_fanned_out_before_a_client_lost_its_right_are_not_sent(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receivers: Receivers, change: dict[str, Any], reason: str) -> None:
    integrator = await accounts.client(["dossiers:read", "reports:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    await submitted_dossier(client, accounts, dossiers)
    assert await fan_out(receivers.consumer) == 1  # the event is queued while the client may still see it
    await dossiers.procedure("000.00.55.H01")  # the agency a client may be moved to must exist
    admin = await accounts.admin()
    read = await client.get(f"/v1/clients/{integrator.id}", headers=admin.headers)
    changed = await client.patch(f"/v1/clients/{integrator.id}", json=change,
                                 headers={**admin.headers, "If-Match": read.headers["etag"]})
    assert changed.status_code == 200, changed.text
    await receivers.run()
    await make_due()
    await receivers.run()  # never retried
    assert receivers.requests == []
    [row] = await deliveries(CONSUMER)
    assert (row.state, row.attempts, row.last_error) == (DEAD, 0, reason)
    if change.get("status") != "suspended":  # a suspended client reads nothing; the others see why in the log
        log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=integrator.headers)
        [entry] = log.json()["items"]
        assert (entry["state"], entry["attempts"], entry["last_error"]) == (DEAD, 0, reason)
        replayed = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{entry['id']}/replay",
                                     headers=integrator.headers)
        assert replayed.status_code == 200
        await receivers.run()  # a replay asks again, and is refused again
        assert receivers.requests == []
        assert [(d.state, d.last_error) for d in await deliveries(CONSUMER)] == [(DEAD, reason)]

"""Webhooks: subscriptions, SSRF refusals, signed deliveries, agency scoping, retries, log and replay."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from app.core import clock
from app.core.delivery import DEAD, DELIVERED, PENDING, RunStats, run_consumer
from app.integration import webhooks
from app.integration.webhooks import CONSUMER, WebhookConsumer
from tests.integration.conftest import PUBLIC_IP, FakeDns, deliveries, make_due, submitted_dossier
from tests.support.identity_fixtures import DEFAULT_AGENCY

OTHER_AGENCY = "000.00.55.H01"
URL = "https://hooks.example.com/dvc"


class Receiver:
    """A webhook receiver behind httpx.MockTransport: records requests, answers `status`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.consumer = WebhookConsumer(httpx.MockTransport(self._handle))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status)

    async def run(self) -> RunStats:
        total = RunStats()
        for _ in range(20):
            stats = await run_consumer(self.consumer)
            total.delivered += stats.delivered
            total.failed += stats.failed
            if not (stats.fanned_out or stats.delivered):
                return total
        return total


@pytest.fixture
def receiver(dns: FakeDns) -> Receiver:
    dns.set("hooks.example.com", PUBLIC_IP)
    dns.set("other.example.com", PUBLIC_IP)
    return Receiver()


def _docs_recipe() -> Callable[..., bool]:
    """The receiver's recipe exactly as docs/webhooks.md prints it (integrators copy it), run from the page."""
    page = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return cast(Callable[..., bool], namespace["verify"])


verify_signature = _docs_recipe()


@pytest.mark.parametrize("check", ["docs", "service"])
@pytest.mark.parametrize("header", [
    "", "t=", "v1=abc", "t=123", "t=1e3,v1=00", "t=" + "9" * 400 + ",v1=00", "t=-5,v1=00", "t=\u0661\u0662,v1=00",
    "garbage", "t=1,v1=\u00e9", "t=1,,v1=00", "=,="])
def test_a_malformed_signature_header_is_refused_not_raised(check: str, header: str) -> None:
    # The recipe is copied into receivers: a header it cannot read must be a refusal, never an exception there.
    if check == "docs":
        assert verify_signature("whsec_x", header, b"{}") is False
    else:
        assert webhooks.verify("whsec_x", b"{}", header) is False


def test_the_recipe_and_the_service_accept_a_fresh_signature() -> None:
    header = webhooks.sign("whsec_x", b'{"a":1}', int(time.time()))
    assert verify_signature("whsec_x", header, b'{"a":1}') and webhooks.verify("whsec_x", b'{"a":1}', header)
    assert not verify_signature("whsec_x", header, b'{"a":2}')


async def _subscribe(client: Any, actor: Any, url: str = URL,
                     event_types: tuple[str, ...] = ("dossier.submitted", "dossier.status_changed")) -> Any:
    return await client.post("/v1/webhooks", json={"url": url, "event_types": list(event_types)},
                             headers=actor.headers)


async def test_creation_shows_the_secret_once(client, accounts, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    created = await _subscribe(client, integrator)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and created.headers["location"] == f"/v1/webhooks/{body['id']}"
    listed = (await client.get("/v1/webhooks", headers=integrator.headers)).json()["items"]
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in (await client.get(f"/v1/webhooks/{body['id']}", headers=integrator.headers)).json()
    stranger = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    assert (await client.get(f"/v1/webhooks/{body['id']}", headers=stranger.headers)).status_code == 404
    assert (await client.get("/v1/webhooks", headers=stranger.headers)).json()["items"] == []
    official = await accounts.official(DEFAULT_AGENCY, ["reception"])
    assert (await _subscribe(client, official)).status_code == 403


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/hook", "http://10.0.0.8/hook", "http://192.168.1.1/hook",
    "http://172.16.5.4/hook", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook",
    "http://[fc00::1]/hook", "http://[fe80::1]/hook", "http://0.0.0.0/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://100.64.0.1/hook", "https://internal.example.com/hook", "https://nowhere.example.com/hook",
    "ftp://hooks.example.com/hook", "hooks.example.com/hook", "https://user:pw@hooks.example.com/hook",
])
async def test_ssrf_targets_are_refused(client, accounts, receiver: Receiver, dns: FakeDns, url: str) -> None:  # type: ignore[no-untyped-def]
    dns.set("internal.example.com", PUBLIC_IP, "10.20.30.40")  # one private address is enough to refuse
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    response = await _subscribe(client, integrator, url)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["loc"] == ["body", "url"]


async def test_private_targets_allowed_when_configured(client, accounts, settings_env: Any) -> None:  # type: ignore[no-untyped-def]
    settings_env(DVC_WEBHOOK_ALLOW_PRIVATE="true")
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    assert (await _subscribe(client, integrator, "http://127.0.0.1:9000/hook")).status_code == 201


async def test_unknown_event_types_are_refused(client, accounts, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    response = await _subscribe(client, integrator, event_types=("dossier.submitted", "dossier.eaten"))
    assert response.status_code == 422 and response.json()["errors"][0]["loc"][:2] == ["body", "event_types"]


async def test_deliveries_are_signed_and_scoped_to_the_clients_agencies(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                       receiver: Receiver) -> None:
    ours = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    theirs = await accounts.client(["dossiers:read"], [OTHER_AGENCY])
    secret = (await _subscribe(client, ours)).json()["secret"]
    await _subscribe(client, theirs, "https://other.example.com/dvc")
    dossier = await submitted_dossier(client, accounts, dossiers)
    await submitted_dossier(client, accounts, dossiers, OTHER_AGENCY)
    await receiver.run()
    by_host: dict[str, list[httpx.Request]] = {}
    for request in receiver.requests:
        by_host.setdefault(request.url.host, []).append(request)
    [request] = by_host["hooks.example.com"]
    [other] = by_host["other.example.com"]
    body = request.content
    assert verify_signature(secret, request.headers["x-dvc-signature"], body)
    assert not verify_signature(secret, request.headers["x-dvc-signature"], body.replace(b"submitted", b"withdrawn"))
    assert not verify_signature("whsec_wrong", request.headers["x-dvc-signature"], body)
    event = json.loads(body)
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["type"] == "dossier.submitted" and event["data"]["code"] == dossier["code"]
    assert request.headers["x-dvc-event-id"] == event["id"]
    assert json.loads(other.content)["data"]["agency_code"] == OTHER_AGENCY


async def test_failures_retry_on_schedule_then_die_and_can_be_replayed(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                      receiver: Receiver) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator, event_types=("dossier.submitted",))).json()
    await submitted_dossier(client, accounts, dossiers)
    receiver.status = 500
    before = clock.now()
    await receiver.run()
    [row] = await deliveries(CONSUMER)
    assert row.state == PENDING and row.last_error == "WebhookError: HTTP 500"
    assert timedelta(seconds=55) < row.next_attempt_at - before < timedelta(seconds=65)
    for _ in range(6):
        await make_due()
        await receiver.run()
    [row] = await deliveries(CONSUMER)
    assert (row.state, row.attempts) == (DEAD, 6)  # 1 + retries at 1 min, 5 min, 30 min, 2 h, 1 day
    log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=integrator.headers)
    assert log.status_code == 200
    [entry] = log.json()["items"]
    assert (entry["state"], entry["attempts"], entry["event_type"]) == ("dead", 6, "dossier.submitted")
    stranger = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    replay_path = f"/v1/webhooks/{hook['id']}/deliveries/{entry['id']}/replay"
    assert (await client.post(replay_path, headers=stranger.headers)).status_code == 404
    replayed = await client.post(replay_path, headers=integrator.headers)
    assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
    receiver.status = 204
    await receiver.run()
    assert [d.state for d in await deliveries(CONSUMER)] == [DELIVERED]
    assert (await client.post(replay_path, headers=integrator.headers)).json()["code"] == "conflict"


async def test_a_subscription_receives_only_what_happens_after_it(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                   receiver: Receiver) -> None:
    # The worker fans an event out when it reaches it: a subscription made before that (while the worker was
    # down, or in the seconds in between) was sent events from before it existed.
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    before = await submitted_dossier(client, accounts, dossiers)
    await _subscribe(client, integrator, event_types=("dossier.submitted",))
    after = await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    assert [json.loads(r.content)["data"]["code"] for r in receiver.requests] == [after["code"]]
    assert before["code"] != after["code"] and len(await deliveries(CONSUMER)) == 1


async def test_a_target_that_turns_private_is_not_called(client, accounts, dossiers, receiver: Receiver,  # type: ignore[no-untyped-def]
                                                         dns: FakeDns) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    await _subscribe(client, integrator)
    dns.set("hooks.example.com", "169.254.169.254")  # DNS rebinding after creation
    await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    assert receiver.requests == []
    [row] = await deliveries(CONSUMER)
    assert row.state == PENDING and "target refused" in (row.last_error or "")


async def test_deleting_stops_deliveries(client, accounts, dossiers, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    await submitted_dossier(client, accounts, dossiers)
    receiver.status = 503
    await receiver.run()
    deleted = await client.delete(f"/v1/webhooks/{hook['id']}", headers=integrator.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/webhooks/{hook['id']}", headers=integrator.headers)).status_code == 404
    assert [d.state for d in await deliveries(CONSUMER)] == [DEAD]
    await submitted_dossier(client, accounts, dossiers)
    await make_due()
    await receiver.run()
    assert len(receiver.requests) == 1  # only the first, failed attempt


async def _stored_secret(subscription_id: str) -> str:
    """The secret column as the database holds it (no decrypting type)."""
    from sqlalchemy import text

    from app.core.db import get_database

    async with get_database().write_engine.connect() as connection:
        return str((await connection.execute(text("SELECT secret FROM webhook_subscriptions WHERE id = :id"),
                                             {"id": uuid.UUID(subscription_id).hex if _sqlite() else
                                              uuid.UUID(subscription_id)})).scalar_one())


def _sqlite() -> bool:
    from app.core.settings import get_settings

    return get_settings().is_sqlite


async def test_secrets_are_stored_encrypted_and_rotate_to_a_new_key(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receiver: Receiver, settings_env: Any) -> None:
    from cryptography.fernet import Fernet

    from app.core import secrets
    from app.core.settings import DEV_SECRETS_KEY

    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    created = (await _subscribe(client, integrator)).json()
    stored = await _stored_secret(created["id"])
    assert created["secret"] not in stored and stored.startswith(secrets.FERNET_PREFIX)
    assert Fernet(DEV_SECRETS_KEY.encode()).decrypt(stored.encode()).decode() == created["secret"]

    new_key = Fernet.generate_key().decode()
    settings_env(DVC_SECRETS_KEYS=f"{new_key},{DEV_SECRETS_KEY}")  # the new key first, the old one still read
    assert await secrets.rotate_all() == 1
    rotated = await _stored_secret(created["id"])
    assert rotated != stored and Fernet(new_key.encode()).decrypt(rotated.encode()).decode() == created["secret"]
    settings_env(DVC_SECRETS_KEYS=new_key)  # the old key dropped: deliveries still sign with the same secret
    await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    [request] = receiver.requests
    assert verify_signature(created["secret"], request.headers["x-dvc-signature"], request.content)

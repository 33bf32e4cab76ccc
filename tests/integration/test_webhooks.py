"""Webhooks: subscriptions, SSRF refusals, signed deliveries, agency scoping, retries, log and replay."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
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
    assert event["data"]["dossier_id"] == event["data"]["id"] == dossier["id"]
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


def _signatures(request: httpx.Request) -> list[str]:
    return [part.split("=", 1)[1] for part in request.headers["x-dvc-signature"].split(",") if part.startswith("v1=")]


async def test_a_rotated_secret_signs_beside_the_new_one_until_its_time_is_up(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    rotated = await client.post(f"/v1/webhooks/{hook['id']}/secret", headers=integrator.headers)
    assert rotated.status_code == 200, rotated.text
    old, new = hook["secret"], rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    expires = rotated.json()["previous_secret_expires_at"]
    shown = (await client.get(f"/v1/webhooks/{hook['id']}", headers=integrator.headers)).json()
    assert shown["previous_secret_expires_at"] == expires and "secret" not in shown
    assert abs(datetime.fromisoformat(expires.replace("Z", "+00:00")) - (clock.now() + timedelta(hours=24))) \
        < timedelta(minutes=1)

    await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    [request] = receiver.requests
    assert len(_signatures(request)) == 2  # the new secret's first
    for secret in (old, new):  # a receiver holding either secret accepts it, with the recipe and the service
        assert verify_signature(secret, request.headers["x-dvc-signature"], request.content)
        assert webhooks.verify(secret, request.content, request.headers["x-dvc-signature"])
    assert not verify_signature("whsec_other", request.headers["x-dvc-signature"], request.content)

    later = clock.now() + timedelta(hours=24, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)  # the overlap is over: the new secret alone signs
    await submitted_dossier(client, accounts, dossiers)
    await make_due()
    await receiver.run()
    last = receiver.requests[-1]
    assert len(_signatures(last)) == 1
    assert webhooks.verify(new, last.content, last.headers["x-dvc-signature"], now=later.timestamp())
    assert not webhooks.verify(old, last.content, last.headers["x-dvc-signature"], now=later.timestamp())
    assert (await client.get(f"/v1/webhooks/{hook['id']}",
                             headers=integrator.headers)).json()["previous_secret_expires_at"] is None


async def test_a_leaked_secret_stops_signing_at_once(client, accounts, dossiers, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client([], [DEFAULT_AGENCY])  # lost dossiers:read: may still rotate, as delete
    reader = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, reader)).json()
    stranger = await client.post(f"/v1/webhooks/{hook['id']}/secret", headers=integrator.headers)
    assert stranger.status_code == 404, stranger.text  # another client's subscription: not found
    first = (await client.post(f"/v1/webhooks/{hook['id']}/secret", headers=reader.headers)).json()["secret"]
    rotated = await client.post(f"/v1/webhooks/{hook['id']}/secret", json={"previous_secret_valid_hours": 0},
                                headers=reader.headers)
    assert rotated.status_code == 200 and rotated.json()["previous_secret_expires_at"] is None, rotated.text
    await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    [request] = receiver.requests
    assert len(_signatures(request)) == 1  # neither the creation's secret nor the first rotation's
    for secret in (hook["secret"], first):
        assert not verify_signature(secret, request.headers["x-dvc-signature"], request.content)
    assert verify_signature(rotated.json()["secret"], request.headers["x-dvc-signature"], request.content)


@pytest.mark.parametrize("body", [{"previous_secret_valid_hours": -1}, {"previous_secret_valid_hours": 169},
                                  {"previous_secret_valid_hours": 1.5}, {"secret": "mine"}, [24]])
async def test_a_rotation_with_a_bad_body_changes_nothing(client, accounts, receiver: Receiver,  # type: ignore[no-untyped-def]
                                                          body: Any) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    answer = await client.post(f"/v1/webhooks/{hook['id']}/secret", json=body, headers=integrator.headers)
    assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), answer.text
    assert webhooks.verify(hook["secret"], b"{}", webhooks.sign(await _current_secret(hook["id"]), b"{}",
                                                                int(time.time())))


async def _current_secret(subscription_id: str) -> str:
    from app.core.db import get_database
    from app.integration.models import WebhookSubscription

    async with get_database().read_sessions() as session:
        subscription = await session.get(WebhookSubscription, uuid.UUID(subscription_id))
        assert subscription is not None
        return subscription.secret


async def test_a_changed_url_takes_the_retries_and_the_subscription_keeps_its_id_and_secret(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receiver: Receiver) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    address = f"/v1/webhooks/{hook['id']}"
    await submitted_dossier(client, accounts, dossiers)
    receiver.status = 503
    await receiver.run()
    assert [r.url.host for r in receiver.requests] == ["hooks.example.com"]

    tag = (await client.get(address, headers=integrator.headers)).headers["etag"]
    change = {"url": "https://other.example.com/dvc"}
    answer = await client.patch(address, json=change, headers=integrator.headers)
    assert (answer.status_code, answer.json()["code"]) == (428, "precondition_required"), answer.text
    answer = await client.patch(address, json=change, headers={**integrator.headers, "If-Match": '"99"'})
    assert (answer.status_code, answer.headers["etag"]) == (412, tag), answer.text
    answer = await client.patch(address, json=change, headers={**integrator.headers, "If-Match": tag})
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == change["url"] and answer.headers["etag"] != tag
    assert answer.json()["id"] == hook["id"] and answer.json()["event_types"] == hook["event_types"]

    receiver.status = 200
    await make_due()
    await receiver.run()
    retried = receiver.requests[-1]
    assert retried.url.host == "other.example.com"  # the retry went to the new URL, signed with the same secret
    assert verify_signature(hook["secret"], retried.headers["x-dvc-signature"], retried.content)
    assert [d.state for d in await deliveries(CONSUMER)] == [DELIVERED]
    stale = await client.patch(address, json={"description": "x"}, headers={**integrator.headers, "If-Match": tag})
    assert stale.status_code == 412, stale.text


async def test_changed_event_types_decide_what_is_fanned_out_next(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, receiver: Receiver) -> None:
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    changed = await client.patch(f"/v1/webhooks/{hook['id']}", json={"event_types": ["payment.succeeded"],
                                                                      "description": "Kế toán"},
                                 headers={**integrator.headers, "If-Match": "*"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["event_types"], changed.json()["description"]) == (["payment.succeeded"], "Kế toán")
    await submitted_dossier(client, accounts, dossiers)
    await receiver.run()
    assert receiver.requests == []


@pytest.mark.parametrize("body", [
    {"url": "http://10.0.0.8/hook"}, {"url": None}, {"event_types": None}, {"event_types": []},
    {"event_types": ["dossier.eaten"]}, {"secret": "mine"}, {"url": ""}])
async def test_a_bad_change_changes_nothing(client, accounts, receiver: Receiver, body: Any) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    answer = await client.patch(f"/v1/webhooks/{hook['id']}", json=body,
                                headers={**integrator.headers, "If-Match": "*"})
    assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), answer.text
    shown = await client.get(f"/v1/webhooks/{hook['id']}", headers=integrator.headers)
    assert {k: shown.json()[k] for k in ("url", "event_types")} == {k: hook[k] for k in ("url", "event_types")}


async def test_changing_a_subscription_needs_the_read_scope(client, accounts, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    # Pointing events elsewhere is subscribing: like creation, it needs dossiers:read (listing, deleting do not).
    reader = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, reader)).json()
    from app.core.db import get_database
    from app.identity.models import Account

    async with get_database().write_sessions() as session, session.begin():
        account = await session.get(Account, uuid.UUID(str(reader.id)))
        assert account is not None
        account.scopes = []
    answer = await client.patch(f"/v1/webhooks/{hook['id']}", json={"description": "x"},
                                headers={**reader.headers, "If-Match": "*"})
    assert (answer.status_code, answer.json()["code"]) == (403, "scope_missing"), answer.text


async def test_concurrent_changes_rotations_and_a_delete_never_fail_the_server(  # type: ignore[no-untyped-def]
        client, accounts, receiver: Receiver) -> None:
    import asyncio

    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = (await _subscribe(client, integrator)).json()
    address = f"/v1/webhooks/{hook['id']}"
    tag = (await client.get(address, headers=integrator.headers)).headers["etag"]
    answers = await asyncio.gather(
        *(client.patch(address, json={"description": f"d{n}"}, headers={**integrator.headers, "If-Match": tag})
          for n in range(4)),
        *(client.post(f"{address}/secret", headers=integrator.headers) for _ in range(3)),
        client.delete(address, headers=integrator.headers))
    patches, rotations, deleted = answers[:4], answers[4:7], answers[7]
    assert deleted.status_code == 204, deleted.text
    assert {a.status_code for a in patches} <= {200, 404, 412}, [a.text for a in patches]
    assert sum(a.status_code == 200 for a in patches) <= 1  # one ETag: at most one change applies
    assert {a.status_code for a in rotations} <= {200, 404}, [a.text for a in rotations]


async def test_a_delete_sent_with_a_stale_if_match_deletes_nothing(client, accounts, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    created = await _subscribe(client, integrator)
    address = f"/v1/webhooks/{created.json()['id']}"
    changed = await client.patch(address, json={"description": "mới"},
                                 headers={**integrator.headers, "If-Match": created.headers["etag"]})
    assert changed.status_code == 200, changed.text
    stale = await client.delete(address, headers={**integrator.headers, "If-Match": created.headers["etag"]})
    assert (stale.status_code, stale.headers["etag"]) == (412, changed.headers["etag"]), stale.text
    assert (await client.get(address, headers=integrator.headers)).status_code == 200
    current = await client.delete(address, headers={**integrator.headers, "If-Match": changed.headers["etag"]})
    assert current.status_code == 204, current.text

"""End to end: an integrator subscribed to `complaint.filed` and `complaint.answered` receives both, signed with its
secret, with the complaint's data; a client of another agency receives neither, and the complaint's text never
leaves (it is read behind the dossier's access rules)."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from app.core.delivery import RunStats, run_consumer
from app.integration import ssrf, webhooks
from app.integration.webhooks import WebhookConsumer
from tests.complaints.conftest import Complaints
from tests.integration.conftest import PUBLIC_IP, FakeDns
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts
from tests.support.workflow_fixtures import Flow

OTHER_AGENCY = "000.00.55.H01"
EVENTS = ["complaint.filed", "complaint.answered"]


class Receiver:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.consumer = WebhookConsumer(httpx.MockTransport(self._handle))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)

    async def run(self) -> RunStats:
        total = RunStats()
        for _ in range(10):
            stats = await run_consumer(self.consumer)
            total.delivered += stats.delivered
            total.dead += stats.dead
            if not (stats.fanned_out or stats.delivered):
                break
        return total


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    dns = FakeDns()
    dns.set("hooks.example.com", PUBLIC_IP)
    dns.set("other.example.com", PUBLIC_IP)
    monkeypatch.setattr(ssrf, "resolve", dns.resolve)
    return Receiver()


async def test_a_subscribed_integrator_receives_the_signed_complaint_events(
        client: httpx.AsyncClient, flow: Flow, complaints: Complaints, accounts: Accounts,
        receiver: Receiver) -> None:
    ours = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    theirs = await accounts.client(["dossiers:read"], [OTHER_AGENCY])
    created = await client.post("/v1/webhooks", json={"url": "https://hooks.example.com/dvc", "event_types": EVENTS},
                                headers=ours.headers)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    other = await client.post("/v1/webhooks", json={"url": "https://other.example.com/dvc", "event_types": EVENTS},
                              headers=theirs.headers)
    assert other.status_code == 201, other.text

    citizen, dossier = await flow.submitted(await flow.procedure(processing_days=5))
    filed = await complaints.file(citizen, dossier["id"], "Chưa nhận được phiếu hẹn trả kết quả")
    answered = await complaints.answered(flow.reception, filed["id"])
    stats = await receiver.run()
    assert stats.dead == 0

    assert {r.url.host for r in receiver.requests} == {"hooks.example.com"}  # the other agency's client: nothing
    assert [r.headers["x-dvc-event-type"] for r in receiver.requests] == EVENTS  # in order, one dossier's events
    events = []
    for request in receiver.requests:
        assert webhooks.verify(secret, request.content, request.headers["x-dvc-signature"])
        assert not webhooks.verify(secret, request.content.replace(b"complaint", b"feedback"),
                                   request.headers["x-dvc-signature"])
        assert not webhooks.verify("whsec_wrong", request.content, request.headers["x-dvc-signature"])
        assert b"phi\\u1ebfu h\\u1eb9n" not in request.content and "phiếu hẹn".encode() not in request.content
        event = json.loads(request.content)
        assert set(event) == {"id", "type", "created_at", "data"} and request.headers["x-dvc-event-id"] == event["id"]
        events.append(event)
    filed_event, answered_event = events
    assert filed_event["type"] == "complaint.filed"
    assert {key: filed_event["data"][key] for key in ("complaint_id", "dossier_id", "code", "agency_code", "kind")} == {
        "complaint_id": filed["id"], "dossier_id": dossier["id"], "code": dossier["code"],
        "agency_code": DEFAULT_AGENCY, "kind": "complaint"}
    assert datetime.fromisoformat(filed_event["data"]["due_at"]) == datetime.fromisoformat(filed["due_at"])
    assert answered_event["type"] == "complaint.answered"
    data = answered_event["data"]
    assert (data["complaint_id"], data["dossier_id"], data["on_time"]) == (filed["id"], dossier["id"], True)
    assert datetime.fromisoformat(data["at"]) == datetime.fromisoformat(answered["answered_at"])

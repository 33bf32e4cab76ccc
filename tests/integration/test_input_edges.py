"""Integration inputs a careless or hostile integrator sends: each a clear 4xx, the same on both databases."""

from __future__ import annotations

import httpx
import pytest

from app.core.delivery import run_consumer
from app.integration.portal import NationalPortal, NationalPortalConsumer
from tests.integration.conftest import PUBLIC_IP, FakeDns, deliveries, submitted_dossier
from tests.integration.test_intake import _body, _syncer
from tests.support.identity_fixtures import DEFAULT_AGENCY


@pytest.mark.parametrize("url", ["https://hooks.example.com/dvc\r\nX-Injected: 1", "https://hooks.example.com/a\x00b",
                                 "https://hooks.example.com/a\tb"])
async def test_a_webhook_url_with_spaces_or_control_characters_is_refused(client, accounts, dns: FakeDns, url):
    # Accepted before (SQLite; PostgreSQL refused only the NUL, with no field named), then every delivery
    # failed: httpx refuses such a URL at each attempt.
    dns.set("hooks.example.com", PUBLIC_IP)
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    response = await client.post("/v1/webhooks", json={"url": url, "event_types": ["dossier.submitted"]},
                                 headers=integrator.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(["body", "url"], "unsafe_url")]
    assert (await client.get("/v1/webhooks", headers=integrator.headers)).json()["items"] == []


async def test_a_webhook_url_on_port_0_is_refused(client, accounts, dns: FakeDns):
    # Checked as if it named the default port and accepted (201); every delivery then failed to connect.
    dns.set("hooks.example.com", PUBLIC_IP)
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    body = {"url": "https://hooks.example.com:0/dvc", "event_types": ["dossier.submitted"]}
    response = await client.post("/v1/webhooks", json=body, headers=integrator.headers)
    assert response.status_code == 422, response.text
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(["body", "url"], "unsafe_url")]


async def test_control_characters_in_a_forwarded_name_or_a_webhook_description_are_a_field_error(
        client, accounts, dossiers, dns: FakeDns):
    # SQLite stored the NUL (then shown and synced on); PostgreSQL refused it as a 422 naming no field.
    code = await dossiers.procedure()
    syncer = await _syncer(accounts)
    body = _body(code, applicant={"citizen_id": "001099012345", "name": "Lê Văn\x00 Cường"})
    forwarded = await client.post("/v1/integration/dossiers", json=body, headers=syncer.headers)
    assert forwarded.status_code == 422, forwarded.text
    assert forwarded.json()["errors"][0]["loc"][:3] == ["body", "applicant", "name"]

    dns.set("hooks.example.com", PUBLIC_IP)
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    hook = await client.post("/v1/webhooks", headers=integrator.headers, json={
        "url": "https://hooks.example.com/dvc", "event_types": ["dossier.submitted"], "description": "Sở\x00KHCN"})
    assert hook.status_code == 422, hook.text
    assert hook.json()["errors"][0]["loc"][:2] == ["body", "description"]
    multiline = await client.post("/v1/webhooks", headers=integrator.headers, json={
        "url": "https://hooks.example.com/dvc", "event_types": ["dossier.submitted"],
        "description": "Sở KHCN\nHà Tĩnh"})
    assert multiline.status_code == 201, multiline.text


@pytest.mark.parametrize(("answer", "recorded"), [
    (httpx.Response(503, content=b"down\x00now"), "PortalError: HTTP 503: down\\x00now"),
    (httpx.Response(200, content=b'{"error_code": "9", "message": "bad \\ud800"}'),
     "PortalError: refused: error_code=9 bad \\ud800"),
], ids=["nul_in_an_error_body", "lone_surrogate_in_a_refusal"])
async def test_a_portal_answer_no_database_can_store_is_recorded_escaped(client, accounts, dossiers, answer,
                                                                        recorded):
    # Recording the failed attempt failed (PostgreSQL refused the NUL; a lone surrogate broke both drivers): the worker
    # pass raised, the attempt was never counted, and the delivery was sent again after every lease, never dead.
    adapter = NationalPortal("http://portal.test", client_id="dvc-hatinh", secret="s3cret", timeout_s=2.0,
                             transport=httpx.MockTransport(lambda request: answer))
    await submitted_dossier(client, accounts, dossiers)
    stats = await run_consumer(NationalPortalConsumer(adapter, enabled=True))
    assert stats.failed == 1
    [delivery] = await deliveries("national_portal")
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, recorded)

"""`payment.cancelled`: finance cancelling a payment (POST /v1/payments/{id}/cancel) is announced in the cancel's
transaction, shaped as the other payment events, and integrators of the dossier's agency may subscribe to it."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from app.core import clock
from app.core.db import get_database
from app.core.delivery import run_consumer
from app.core.outbox import OutboxEvent
from app.fees.providers import use_provider
from app.fees.providers.base import ProviderError, ProviderStatus
from app.fees.providers.fakepay import FakePayProvider
from app.integration import ssrf
from app.integration.models import WebhookSubscription
from app.integration.schemas import WebhookCreate
from app.integration.webhooks import WebhookConsumer
from tests.fees.conftest import Fees
from tests.fees.test_cancel import _cancel, _settling
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts

EVENT = "payment.cancelled"
REASON = "Ngân hàng không quyết toán giao dịch"


async def _cancelled_events() -> list[OutboxEvent]:
    async with get_database().read_sessions() as session:
        stmt = select(OutboxEvent).where(OutboxEvent.event_type == EVENT).order_by(OutboxEvent.id)
        return list((await session.execute(stmt)).scalars().all())


async def test_a_cancel_emits_one_payment_cancelled_event(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    headers = {**case.finance.headers, "Idempotency-Key": "cancel-1"}
    response = await _cancel(client, headers, str(attempt["id"]), REASON)
    assert response.status_code == 200, response.text
    [event] = await _cancelled_events()
    assert (event.aggregate_type, str(event.aggregate_id)) == ("dossier", case.id)
    fees_now = await fees.fees_of(client, case)
    [obligation] = [o for o in fees_now["obligations"] if o["stage"] == "before_processing"]
    assert event.payload == {"dossier_id": case.id, "payment_id": attempt["id"], "obligation_id": obligation["id"],
                             "stage": "before_processing", "amount": attempt["amount"], "provider": "fakepay",
                             "cancelled_by": str(case.finance.id), "reason": REASON}
    # The key's replay, and a second cancel (409 payment_not_live), announce nothing more.
    assert (await _cancel(client, headers, str(attempt["id"]), REASON)).headers.get("Idempotent-Replayed") == "true"
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]))).status_code == 409
    assert [e.id for e in await _cancelled_events()] == [event.id]


async def test_no_event_when_the_payment_is_not_cancelled(client: httpx.AsyncClient, fees: Fees) -> None:
    paid_case, paid = await fees.paid_case(client)
    assert (await _cancel(client, paid_case.finance.headers, str(paid["id"]))).status_code == 409

    case, attempt = await _settling(client, fees)
    fees.bank.complete(str(attempt["provider_ref"]))  # the bank settles before it is asked: paid, not cancelled
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]))).json()["code"] == "payment_succeeded"

    class Down(FakePayProvider):
        async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
            raise ProviderError("connection refused")

    other, stuck = await _settling(client, fees)
    use_provider("fakepay", Down(fees.bank))
    try:
        assert (await _cancel(client, other.finance.headers, str(stuck["id"]))).status_code == 503
    finally:
        use_provider("fakepay", None)
    assert await _cancelled_events() == []


async def test_subscribers_of_the_agency_receive_it_signed(client: httpx.AsyncClient, fees: Fees, accounts: Accounts,
                                                          monkeypatch: Any) -> None:
    assert WebhookCreate.model_validate({"url": "https://hooks.example.com/dvc",
                                         "event_types": [EVENT]}).event_types == [EVENT]

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    monkeypatch.setattr(ssrf, "resolve", public)
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    outsider = await accounts.client(["dossiers:read"], ["000.00.77.H77"])
    async with get_database().write_sessions() as session, session.begin():
        for owner in (integrator, outsider):
            session.add(WebhookSubscription(client_id=owner.id, url="https://hooks.example.com/dvc",
                                            secret="whsec_test", event_types=[EVENT], active=True,
                                            created_at=clock.now()))
    case, attempt = await _settling(client, fees)
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]), REASON)).status_code == 200
    received: list[httpx.Request] = []
    consumer = WebhookConsumer(httpx.MockTransport(lambda request: received.append(request) or httpx.Response(204)))
    await run_consumer(consumer)
    [request] = received  # the other agency's integrator hears nothing
    body = json.loads(request.content)
    assert (body["type"], body["data"]["payment_id"], body["data"]["reason"]) == (EVENT, attempt["id"], REASON)
    assert request.headers["X-DVC-Event-Type"] == EVENT

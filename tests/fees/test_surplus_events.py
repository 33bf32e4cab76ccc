"""`payment.surplus_recorded`: finance hears of money taken but not credited, once per surplus, in the transaction
that records it; integrators of the dossier's agency may subscribe to it, and the applicant is not messaged."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from app.core import clock
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.integration.models import WebhookSubscription
from app.integration.schemas import WebhookCreate
from app.integration.webhooks import WebhookConsumer
from app.notifications.compose import message_for
from tests.fees.conftest import BEFORE_TOTAL, Fees, payment_of
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts

EVENT = "payment.surplus_recorded"
SHORT = BEFORE_TOTAL - 1000


async def _surplus_events() -> list[OutboxEvent]:
    async with get_database().read_sessions() as session:
        stmt = select(OutboxEvent).where(OutboxEvent.event_type == EVENT).order_by(OutboxEvent.id)
        return list((await session.execute(stmt)).scalars().all())



async def test_a_mismatched_amount_emits_one_surplus_recorded_event(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    ref, pid = str(attempt["provider_ref"]), str(attempt["id"])
    first, duplicate = fees.bank.complete(ref, amount=SHORT, mode="duplicate")
    assert (await fees.deliver(client, first)).json()["outcome"] == "amount_mismatch"
    [event] = await _surplus_events()
    [surplus] = (await payment_of(client, case, pid))["surpluses"]
    assert (event.aggregate_type, str(event.aggregate_id)) == ("dossier", case.id)
    assert event.payload == {"dossier_id": case.id, "payment_id": pid, "surplus_id": surplus["id"], "amount": SHORT,
                             "provider": "fakepay",
                             "provider_txn_id": fees.bank.order(ref)["txn_id"], "reason": "amount_mismatch"}

    # Retries are answered as the first was (the amount is checked before "already confirmed", VNPAY's order)
    assert (await fees.deliver(client, duplicate)).json()["outcome"] == "amount_mismatch"
    assert (await fees.deliver(client, first)).json()["outcome"] == "amount_mismatch"
    assert [e.id for e in await _surplus_events()] == [event.id]  # news of a surplus on record emits nothing


async def test_a_second_transaction_emits_one_surplus_recorded_event(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    ref = str(attempt["provider_ref"])
    again = fees.bank.pay_again(ref)
    assert (await fees.deliver(client, again)).json()["outcome"] == "overpayment"
    assert (await fees.deliver(client, again)).json()["outcome"] == "duplicate"
    [event] = await _surplus_events()
    [txn_b] = fees.bank.order(ref)["later_transactions"]
    assert str(event.aggregate_id) == case.id
    assert {k: event.payload[k] for k in ("payment_id", "amount", "provider_txn_id", "reason")} == {
        "payment_id": attempt["id"], "amount": BEFORE_TOTAL, "provider_txn_id": txn_b, "reason": "second_transaction"}


async def test_surplus_recorded_goes_to_subscribed_integrators_not_to_the_applicant(
        client: httpx.AsyncClient, fees: Fees, accounts: Accounts) -> None:
    assert WebhookCreate.model_validate({"url": "https://hooks.example.com/dvc",
                                         "event_types": [EVENT]}).event_types == [EVENT]
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    async with get_database().write_sessions() as session, session.begin():
        session.add(WebhookSubscription(client_id=integrator.id, url="https://hooks.example.com/dvc",
                                        secret="whsec_test", event_types=[EVENT], active=True,
                                        created_at=clock.now()))
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]), amount=SHORT)
    assert (await fees.deliver(client, callback)).json()["outcome"] == "amount_mismatch"
    [event] = await _surplus_events()
    async with get_database().read_sessions() as session:
        assert len(await WebhookConsumer().targets(session, event)) == 1
        assert await message_for(session, event) is None

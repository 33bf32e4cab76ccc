"""Attempts that expired on our clock alone, and the `submitted` state: money the provider took is never lost.

An attempt expires after 90 minutes without an outcome, either in a reconciliation pass or when the payer asks to
pay again; neither asked the provider whether the money moved. Reconciliation keeps asking about such an attempt
(once per wait, for a day after its expiry) until the provider answers; a success is then credited, or flagged
for a refund when the fees were paid another way meanwhile.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from app.core.db import get_database
from app.fees.models import PaymentAttempt
from app.fees.providers.base import ProviderError
from app.fees.providers.fakepay import FakePayProvider
from app.fees.providers.vnpay import VnpayProvider
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees, later, payment_of
from tests.fees.vnpay_support import SECRET, TMN, querydr_answer


async def _paid_but_never_told(client: httpx.AsyncClient, fees: Fees) -> tuple[Case, dict[str, object]]:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    assert fees.bank.complete(str(attempt["provider_ref"]), mode="never") == []  # paid; the callback is lost
    return case, attempt


async def test_money_of_an_attempt_expired_by_a_new_payment_is_credited(client: httpx.AsyncClient, fees: Fees,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    case, first = await _paid_but_never_told(client, fees)
    later(monkeypatch, minutes=91)
    second = await fees.pay(client, case)  # the payer tries again: the first attempt expires, unasked
    assert (await payment_of(client, case, str(first["id"])))["state"] == "expired"

    report = await reconcile(older_than_s=0)
    assert report.settled == 1
    paid = await payment_of(client, case, str(first["id"]))
    assert (paid["state"], paid["credited"], paid["flag"]) == ("succeeded", True, None)
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"
    # The second attempt, if the payer finishes it too, is money to give back, not a second credit.
    for callback in fees.bank.complete(str(second["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "overpayment"
    assert (await payment_of(client, case, str(second["id"])))["flag"] == "overpayment"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_money_of_an_attempt_expired_while_the_provider_was_down_is_credited(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    case, attempt = await _paid_but_never_told(client, fees)
    later(monkeypatch, minutes=91)

    async def down(self: object, provider_ref: str, created_at: object) -> object:
        raise ProviderError("connection refused")

    with monkeypatch.context() as outage:
        outage.setattr(FakePayProvider, "status", down)
        report = await reconcile(older_than_s=0)
    assert (report.expired, report.errors) == (1, 1)  # expiry still applies: the payer may pay again
    later(monkeypatch, minutes=10)
    assert (await reconcile(older_than_s=0)).settled == 1  # the provider is back: the money is found
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "succeeded"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_a_late_success_after_desk_payment_is_flagged_for_a_refund(client: httpx.AsyncClient, fees: Fees,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    case, attempt = await _paid_but_never_told(client, fees)
    later(monkeypatch, minutes=91)
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": f"Q{uuid.uuid4().hex[:8]}"})
    assert desk.status_code == 201, desk.text
    await reconcile(older_than_s=0)
    online = await payment_of(client, case, str(attempt["id"]))
    assert (online["state"], online["credited"], online["flag"]) == ("succeeded", False, "overpayment")
    assert online["refundable"] == BEFORE_TOTAL
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_a_failure_confirms_the_expiry_and_the_questions_stop(client: httpx.AsyncClient, fees: Fees,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    later(monkeypatch, minutes=91)
    assert (await reconcile(older_than_s=0)).expired == 1  # the bank still says pending: expired, unconfirmed
    assert (await reconcile(older_than_s=0)).checked == 1  # asked again
    fees.bank.complete(str(attempt["provider_ref"]), outcome="failed", mode="never")
    assert (await reconcile(older_than_s=0)).checked == 1
    assert (await reconcile(older_than_s=0)).checked == 0  # confirmed: nothing more to ask
    payment = await payment_of(client, case, str(attempt["id"]))
    assert (payment["state"], payment["credited"]) == ("expired", False)


async def test_an_abandoned_attempt_is_asked_about_for_a_day_after_it_expires(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    await fees.pay(client, case)
    later(monkeypatch, minutes=91)
    assert (await reconcile(older_than_s=0)).expired == 1
    later(monkeypatch, hours=23)
    assert (await reconcile(older_than_s=0)).checked == 1
    later(monkeypatch, hours=2)
    assert (await reconcile(older_than_s=0)).checked == 0


async def test_the_attempts_the_provider_keeps_calling_pending_take_turns(client: httpx.AsyncClient, fees: Fees,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for _ in range(2):
        case = await fees.case(client)
        await fees.request_payment(client, case)
        ids.append(uuid.UUID(str((await fees.pay(client, case))["id"])))
        later(monkeypatch, seconds=1)

    async def updated_at() -> dict[uuid.UUID, datetime]:
        async with get_database().read_sessions() as session:
            rows = await session.execute(select(PaymentAttempt.id, PaymentAttempt.updated_at)
                                         .where(PaymentAttempt.id.in_(ids)))
            return {row.id: row.updated_at for row in rows}

    before = await updated_at()
    await reconcile(older_than_s=0, limit=1)  # the oldest is asked, and goes to the back of the queue
    later(monkeypatch, seconds=1)
    after_first = await updated_at()
    assert after_first[ids[0]] > before[ids[0]] and after_first[ids[1]] == before[ids[1]]
    await reconcile(older_than_s=0, limit=1)  # so the next pass asks the other one
    assert (await updated_at())[ids[1]] > before[ids[1]]


async def test_a_payment_the_provider_is_still_settling_is_submitted(client: httpx.AsyncClient,
                                                                     fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    assert attempt["state"] == "started"
    fees.bank.hold(str(attempt["provider_ref"]))  # the payer has paid; the bank has not settled yet
    await reconcile(older_than_s=0)
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "submitted"
    queue = await client.get("/v1/payments?state=submitted", headers=case.finance.headers)
    assert [p["id"] for p in queue.json()["items"]] == [attempt["id"]]
    again = await fees.pay_response(client, case)
    assert again.status_code == 409 and again.json()["code"] == "payment_in_progress"  # still live
    for callback in fees.bank.complete(str(attempt["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"
    assert await fees.state(client, case) == "received"


@pytest.mark.parametrize(("transaction_status", "state"), [
    ("00", "succeeded"), ("01", "pending"), ("02", "failed"),
    # Money may have moved or be held: nothing is concluded, the attempt is asked about again.
    ("04", "unknown"), ("05", "unknown"), ("06", "unknown"), ("07", "unknown"), ("09", "unknown"),
])
async def test_querydr_concludes_only_from_the_states_that_say_so(transaction_status: str, state: str) -> None:
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=httpx.MockTransport(
                                 lambda request: querydr_answer(request, vnp_TransactionStatus=transaction_status)))
    status = await provider.status("DVC261206MINE", datetime(2026, 12, 6, 8, 0, tzinfo=UTC))
    assert status.state == state


async def test_another_amount_reported_for_an_expired_attempt_is_kept_once(client: httpx.AsyncClient, fees: Fees,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    later(monkeypatch, minutes=91)
    assert (await reconcile(older_than_s=0)).expired == 1
    fees.bank.complete(str(attempt["provider_ref"]), mode="never", amount=BEFORE_TOTAL - 1)
    assert (await reconcile(older_than_s=0)).settled == 1
    payment = await payment_of(client, case, str(attempt["id"]))
    assert (payment["state"], payment["flag"]) == ("expired", "amount_mismatch")
    assert [s["amount"] for s in payment["surpluses"]] == [BEFORE_TOTAL - 1]  # money to give back, not credit
    assert (await reconcile(older_than_s=0)).checked == 0  # the provider has answered: no more questions


async def test_the_desk_takes_over_from_an_online_attempt_not_yet_paid(client: httpx.AsyncClient,
                                                                       fees: Fees) -> None:
    # The payer gave up online and came to the desk: it answered 409 payment_in_progress for up to 90 minutes.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    online = await fees.pay(client, case)
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": "QD-TAKEOVER"})
    assert desk.status_code == 201, desk.text
    assert (await payment_of(client, case, str(online["id"])))["state"] == "expired"
    assert await fees.state(client, case) == "received"
    # The payer finishes online after all: money to give back, never a second credit.
    for callback in fees.bank.complete(str(online["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "overpayment"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_the_desk_waits_for_an_online_payment_the_provider_is_settling(client: httpx.AsyncClient,
                                                                             fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    online = await fees.pay(client, case)
    fees.bank.hold(str(online["provider_ref"]))
    await reconcile(older_than_s=0)  # submitted: the payer has paid
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": "QD-WAIT"})
    assert desk.status_code == 409 and desk.json()["code"] == "payment_in_progress"
    assert (await payment_of(client, case, str(online["id"])))["state"] == "submitted"

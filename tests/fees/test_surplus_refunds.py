"""Money a provider reports that we do not credit (another amount, a second transaction on a paid order) is kept
as a surplus, once per provider transaction, and given back through POST /payments/{id}/refunds with
`surplus_id`: the same reservation, expectation and provider rules as a payment's own refunds, without ever
moving the obligation's paid or refunded."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.fees.models import PaymentSurplus
from app.fees.providers import use_provider
from app.fees.providers.base import ProviderStatus
from app.fees.providers.fakepay import FakePayBank, FakePayProvider
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees, payment_of

SHORT = BEFORE_TOTAL - 1000  # what the provider says it took, for an order of BEFORE_TOTAL


async def _started(client: httpx.AsyncClient, fees: Fees) -> tuple[Case, dict[str, Any]]:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    return case, await fees.pay(client, case)



async def _refund(client: httpx.AsyncClient, case: Case, payment_id: str, amount: int, expected: int,
                  surplus_id: object) -> httpx.Response:
    return await client.post(f"/v1/payments/{payment_id}/refunds", headers=case.finance.headers,
                             json={"amount": amount, "reason": "Tiền thu thừa", "expected_available": expected,
                                   "surplus_id": str(surplus_id)})


async def _surplus_rows() -> list[tuple[str | None, int, str, int]]:
    async with get_database().read_sessions() as session:
        rows = (await session.execute(select(PaymentSurplus).order_by(PaymentSurplus.created_at))).scalars().all()
    return [(r.provider_txn_id, r.amount, r.reason, r.refunded) for r in rows]


async def _mismatched(client: httpx.AsyncClient, fees: Fees) -> tuple[Case, dict[str, Any], dict[str, Any]]:
    """A payment whose provider reported SHORT instead of BEFORE_TOTAL: (case, payment, its one surplus)."""
    case, attempt = await _started(client, fees)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]), amount=SHORT)
    assert (await fees.deliver(client, callback)).json()["outcome"] == "amount_mismatch"
    payment = await payment_of(client, case, str(attempt["id"]))
    [surplus] = payment["surpluses"]
    return case, payment, surplus


async def test_a_mismatching_amount_is_a_surplus_refunded_in_part_then_in_full(client: httpx.AsyncClient,
                                                                               fees: Fees) -> None:
    case, payment, surplus = await _mismatched(client, fees)
    pid, txn = str(payment["id"]), fees.bank.order(str(payment["provider_ref"]))["txn_id"]
    assert (payment["state"], payment["flag"], payment["credited"], payment["refundable"]) == (
        "failed", "amount_mismatch", False, 0)
    assert {k: surplus[k] for k in ("provider_txn_id", "amount", "reason", "refunded", "refundable")} == {
        "provider_txn_id": txn, "amount": SHORT, "reason": "amount_mismatch", "refunded": 0, "refundable": SHORT}
    # Without surplus_id the payment's own money is meant, and there is none.
    own = await client.post(f"/v1/payments/{pid}/refunds", headers=case.finance.headers,
                             json={"amount": 1000, "reason": "x", "expected_available": SHORT})
    assert own.status_code == 409 and own.json()["extra"]["available"] == 0

    first = await _refund(client, case, pid, 200000, SHORT, surplus["id"])
    assert first.status_code == 201, first.text
    assert (first.json()["state"], first.json()["surplus_id"]) == ("succeeded", surplus["id"])
    stale = await _refund(client, case, pid, 100000, SHORT, surplus["id"])  # a second official's screen
    assert stale.status_code == 409 and stale.json()["code"] == "refund_amount_mismatch"
    assert stale.json()["extra"]["available"] == SHORT - 200000
    too_much = await _refund(client, case, pid, SHORT - 200000 + 1, SHORT - 200000, surplus["id"])
    assert too_much.status_code == 422
    rest = await _refund(client, case, pid, SHORT - 200000, SHORT - 200000, surplus["id"])
    assert rest.status_code == 201 and rest.json()["state"] == "succeeded"

    [after] = (await payment_of(client, case, pid))["surpluses"]
    assert (after["refunded"], after["refundable"]) == (SHORT, 0)
    listed = (await client.get(f"/v1/payments/{pid}/refunds", headers=case.finance.headers)).json()["items"]
    assert [(r["amount"], r["surplus_id"]) for r in listed] == [(200000, surplus["id"]),
                                                                (SHORT - 200000, surplus["id"])]
    assert fees.bank.order(str(payment["provider_ref"]))["refunded"] == SHORT  # given back through the provider
    view = await fees.fees_of(client, case)
    assert (view["paid"], view["refunded"]) == (0, 0)  # never credited, so nothing of the obligation moved
    async with get_database().read_sessions() as session:
        events = (await session.execute(select(OutboxEvent).where(
            OutboxEvent.event_type == "payment.refunded").order_by(OutboxEvent.id))).scalars().all()
    assert [(e.payload["surplus_id"], e.payload["refunded_total"]) for e in events] == [
        (surplus["id"], 200000), (surplus["id"], SHORT)]


async def test_a_surplus_is_refunded_only_through_its_own_payment(client: httpx.AsyncClient, fees: Fees) -> None:
    case, payment, surplus = await _mismatched(client, fees)
    other_case, other = await fees.paid_case(client)
    elsewhere = await _refund(client, other_case, str(other["id"]), 1000, SHORT, surplus["id"])
    assert elsewhere.status_code == 404
    unknown = await _refund(client, case, str(payment["id"]), 1000, SHORT, uuid.uuid4())
    assert unknown.status_code == 404
    assert (await _surplus_rows())[0][3] == 0
    assert (await fees.fees_of(client, other_case))["refunded"] == 0


async def test_a_duplicated_mismatching_callback_makes_one_surplus(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _started(client, fees)
    ref, pid = str(attempt["provider_ref"]), str(attempt["id"])
    callbacks = fees.bank.complete(ref, amount=SHORT, mode="duplicate")
    outcomes = [(await fees.deliver(client, cb)).json()["outcome"] for cb in callbacks]
    # Retries are answered as the first was: the amount is checked before "already confirmed" (VNPAY's order).
    assert outcomes == ["amount_mismatch", "amount_mismatch"]
    replays = await asyncio.gather(*(fees.deliver(client, callbacks[0]) for _ in range(6)))
    assert {r.json()["outcome"] for r in replays} == {"amount_mismatch"}
    txn = fees.bank.order(ref)["txn_id"]
    # News of the same transaction with the order's amount is still that transaction: applied once, not credited.
    right_amount = fees.bank.callback(ref, txn, "succeeded", BEFORE_TOTAL)
    assert (await fees.deliver(client, right_amount)).json()["outcome"] == "duplicate"
    assert await _surplus_rows() == [(txn, SHORT, "amount_mismatch", 0)]
    assert (await fees.fees_of(client, case))["paid"] == 0
    # Another transaction with another amount is more money: a second row, and the first one is kept as it was.
    other = fees.bank.callback(ref, "FPOTHER", "succeeded", 7000)
    assert (await fees.deliver(client, other)).json()["outcome"] == "amount_mismatch"
    payment = await payment_of(client, case, pid)
    assert payment["flag"] == "amount_mismatch"
    assert [(s["provider_txn_id"], s["amount"]) for s in payment["surpluses"]] == [(txn, SHORT), ("FPOTHER", 7000)]


async def test_a_second_transaction_is_a_surplus_refunded_through_the_provider(client: httpx.AsyncClient,
                                                                               fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    ref, pid = str(attempt["provider_ref"]), str(attempt["id"])
    again = fees.bank.pay_again(ref)
    assert (await fees.deliver(client, again)).json()["outcome"] == "overpayment"
    assert (await fees.deliver(client, again)).json()["outcome"] == "duplicate"
    payment = await payment_of(client, case, pid)
    [txn_b] = fees.bank.order(ref)["later_transactions"]
    [surplus] = payment["surpluses"]
    assert (payment["flag"], payment["provider_txn_id"]) == ("second_transaction", fees.bank.order(ref)["txn_id"])
    assert (surplus["provider_txn_id"], surplus["amount"], surplus["reason"]) == (
        txn_b, BEFORE_TOTAL, "second_transaction")

    refund = await _refund(client, case, pid, BEFORE_TOTAL, BEFORE_TOTAL, surplus["id"])
    assert refund.status_code == 201 and refund.json()["state"] == "succeeded", refund.text
    order = fees.bank.order(ref)
    assert order["later_transactions"][txn_b]["refunded"] == BEFORE_TOTAL  # the provider was named txn B
    assert order["refunded"] == 0  # the credited payment was not touched
    view = await fees.fees_of(client, case)
    assert (view["paid"], view["refunded"]) == (BEFORE_TOTAL, 0)
    payment = await payment_of(client, case, pid)
    assert (payment["refunded"], payment["refundable"]) == (0, BEFORE_TOTAL)
    assert payment["surpluses"][0]["refundable"] == 0
    assert await fees.state(client, case) == "received"


async def test_a_refused_surplus_refund_releases_it(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    pid = str(attempt["id"])
    assert (await fees.deliver(client, fees.bank.pay_again(str(attempt["provider_ref"])))).status_code == 200
    [surplus] = (await payment_of(client, case, pid))["surpluses"]
    refusing = FakePayBank()
    refusing.fail_refunds = True
    use_provider("fakepay", FakePayProvider(refusing))
    try:
        refused = await _refund(client, case, pid, 1000, BEFORE_TOTAL, surplus["id"])
    finally:
        use_provider("fakepay", None)
    assert refused.status_code == 201 and refused.json()["state"] == "failed"
    [released] = (await payment_of(client, case, pid))["surpluses"]
    assert (released["refunded"], released["refundable"]) == (0, BEFORE_TOTAL)
    retried = await _refund(client, case, pid, BEFORE_TOTAL, BEFORE_TOTAL, surplus["id"])
    assert retried.status_code == 201 and retried.json()["state"] == "succeeded"


async def test_a_surplus_refund_cut_off_by_a_crash_is_settled_by_reconciliation(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconciliation asks again for the surplus's transaction, not the payment's."""
    from app.fees import refunds

    case, attempt = await fees.paid_case(client)
    ref, pid = str(attempt["provider_ref"]), str(attempt["id"])
    assert (await fees.deliver(client, fees.bank.pay_again(ref))).status_code == 200
    [surplus] = (await payment_of(client, case, pid))["surpluses"]

    async def killed(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("process killed")

    monkeypatch.setattr(refunds, "ask_provider", killed)
    with pytest.raises(RuntimeError):
        async with get_database().write_sessions() as session:
            await refunds.refund_payment(session, uuid.UUID(pid), amount=BEFORE_TOTAL, reason="Nộp trùng",
                                         expected_available=BEFORE_TOTAL, official_id=case.finance.id,
                                         surplus_id=uuid.UUID(surplus["id"]))
    monkeypatch.undo()
    assert (await payment_of(client, case, pid))["surpluses"][0]["refundable"] == 0  # reserved meanwhile
    assert (await reconcile(older_than_s=0)).refunds_settled == 1
    [txn_b] = fees.bank.order(ref)["later_transactions"]
    assert (fees.bank.order(ref)["later_transactions"][txn_b]["refunded"], fees.bank.order(ref)["refunded"]) == (
        BEFORE_TOTAL, 0)
    [listed] = (await client.get(f"/v1/payments/{pid}/refunds", headers=case.finance.headers)).json()["items"]
    assert (listed["state"], listed["surplus_id"]) == ("succeeded", surplus["id"])
    assert (await fees.fees_of(client, case))["refunded"] == 0


async def test_a_mismatch_found_by_reconciliation_is_named_by_the_late_callback(client: httpx.AsyncClient,
                                                                              fees: Fees) -> None:
    """The provider's status named no transaction; its callback, later, names it: the same money, one row."""

    class Unnamed(FakePayProvider):
        async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
            found = await super().status(provider_ref, created_at)
            return ProviderStatus(found.state, None, found.amount)

    case, attempt = await _started(client, fees)
    [late] = fees.bank.complete(str(attempt["provider_ref"]), amount=SHORT)
    use_provider("fakepay", Unnamed(fees.bank))
    try:
        assert (await reconcile(older_than_s=0)).settled == 1
    finally:
        use_provider("fakepay", None)
    assert await _surplus_rows() == [(None, SHORT, "amount_mismatch", 0)]
    assert (await fees.deliver(client, late)).json()["outcome"] == "amount_mismatch"  # names the row, adds none
    txn = fees.bank.order(str(attempt["provider_ref"]))["txn_id"]
    assert await _surplus_rows() == [(txn, SHORT, "amount_mismatch", 0)]
    async with get_database().read_sessions() as session:
        assert (await session.execute(select(func.count()).select_from(PaymentSurplus))).scalar() == 1
    assert (await fees.fees_of(client, case))["paid"] == 0


async def test_a_mismatch_named_by_its_callback_then_reported_unnamed_by_reconciliation_is_one_surplus(
        client: httpx.AsyncClient, fees: Fees) -> None:
    """The reverse order: the callback names the transaction, reconciliation (asking about the attempt the mismatch
    failed) then reports the same money without naming it. A second row was money recorded twice to give back."""

    class Unnamed(FakePayProvider):
        async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
            found = await super().status(provider_ref, created_at)
            return ProviderStatus(found.state, None, found.amount)

    case, payment, surplus = await _mismatched(client, fees)
    use_provider("fakepay", Unnamed(fees.bank))
    try:
        assert (await reconcile(older_than_s=0)).settled == 1
        assert (await reconcile(older_than_s=0)).checked == 0  # the provider has answered: no more questions
    finally:
        use_provider("fakepay", None)
    assert await _surplus_rows() == [(surplus["provider_txn_id"], SHORT, "amount_mismatch", 0)]
    assert [s["id"] for s in (await payment_of(client, case, str(payment["id"])))["surpluses"]] == [surplus["id"]]

"""Money-safety probes the other fee tests leave out: news that ends an attempt before the money arrives, fees due
on the result through the real fees domain, the desk next to a live online attempt."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from app.fees.providers import use_provider
from app.fees.providers.vnpay import VnpayProvider
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees, later, payment_of
from tests.fees.test_vnpay import _ipn
from tests.fees.vnpay_support import SECRET, TMN, querydr_answer
from tests.support.identity_fixtures import DEFAULT_AGENCY

ON_RESULT_ITEMS: list[dict[str, Any]] = [
    {"kind": "fee", "name": "Lệ phí cấp giấy chứng nhận", "amount": 150000, "due": "before_processing"},
    {"kind": "fee", "name": "Lệ phí trả kết quả", "amount": 20000, "due": "on_result"},
    {"kind": "charge", "name": "Phí sao y kết quả", "amount": 5000, "due": "on_result"},
]
UNSIGNED_PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n%%EOF\n"




async def _started(client: httpx.AsyncClient, fees: Fees) -> tuple[Case, dict[str, Any]]:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    return case, await fees.pay(client, case)


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
async def test_money_taken_after_a_failure_whose_success_callback_was_lost_is_found(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    # The payer's first try is declined (its callback arrives), the second try on the same order goes through and
    # its callback is lost. Reconciliation asked only about live and expired attempts, so the money the provider
    # holds was never found: the dossier stayed at step 2.3 and the payer was asked to pay again.
    case, attempt = await _started(client, fees)
    ref = str(attempt["provider_ref"])
    declined = fees.bank.callback(ref, f"FP{uuid.uuid4().hex[:16].upper()}", outcome, BEFORE_TOTAL)
    assert (await fees.deliver(client, declined)).json()["outcome"] == "recorded"
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == outcome
    assert fees.bank.complete(ref, mode="never") == []  # paid on the retry; the bank's callback never comes

    later(monkeypatch, minutes=10)
    report = await reconcile()
    assert report.settled == 1, report
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"]) == ("succeeded", True)
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"


async def test_a_failure_is_asked_about_until_the_checkout_closes_then_no_more(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    # While the order could still be paid (before its expiry), a failure the provider confirms is not the last
    # word; once the checkout has closed and the provider still says failed, the questions stop.
    case, attempt = await _started(client, fees)
    ref = str(attempt["provider_ref"])
    for callback in fees.bank.complete(ref, outcome="failed"):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "recorded"
    later(monkeypatch, minutes=10)
    assert (await reconcile()).checked == 1
    later(monkeypatch, minutes=10)
    assert (await reconcile()).checked == 1  # the checkout is still open: asked again
    later(monkeypatch, minutes=90)
    assert (await reconcile()).checked == 1  # closed now, and the provider says failed: confirmed
    later(monkeypatch, minutes=10)
    assert (await reconcile()).checked == 0
    payment = await payment_of(client, case, str(attempt["id"]))
    assert (payment["state"], payment["credited"]) == ("failed", False)


async def _issue_result(client: httpx.AsyncClient, fees: Fees, case: Case) -> dict[str, Any]:
    """Receive (after step 2.3), assign, approve and issue the result: the fees due on the result are requested."""
    processing = await fees.accounts.official(DEFAULT_AGENCY, ["processing"])
    approval = await fees.accounts.official(DEFAULT_AGENCY, ["approval"])
    assigned = await fees.transition(client, case, case.reception, "assign", assignee=str(processing.id))
    assert assigned.status_code == 200, assigned.text
    assert (await fees.transition(client, case, approval, "approve")).status_code == 200
    upload = await client.post(f"/v1/dossiers/{case.id}/attachments", headers=approval.headers,
                               data={"part": "result"},
                               files={"file": ("ket-qua.pdf", UNSIGNED_PDF, "application/pdf")})
    assert upload.status_code == 201, upload.text
    issued = await fees.transition(client, case, approval, "issue_result", attachments=[upload.json()["id"]])
    assert issued.status_code == 200, issued.text
    return dict(issued.json())


async def test_fees_due_on_the_result_block_the_return_until_paid_online(client: httpx.AsyncClient,
                                                                         fees: Fees) -> None:
    code = await fees.dossiers.procedure(DEFAULT_AGENCY, channels=("online", "desk"), fee_items=ON_RESULT_ITEMS,
                                         result={"name": "Giấy chứng nhận", "must_be_signed": False})
    citizen = await fees.accounts.citizen()
    reception = await fees.accounts.official(DEFAULT_AGENCY, ["reception"])
    finance = await fees.accounts.official(DEFAULT_AGENCY, ["finance"])
    case = Case(citizen, reception, finance, await fees.dossiers.submitted(client, citizen, code), code)
    await fees.request_payment(client, case)
    first = await fees.pay(client, case)
    assert first["amount"] == 150000  # before processing: the on_result lines are not requested yet
    for callback in fees.bank.complete(str(first["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"
    assert await fees.state(client, case) == "received"
    assert (await fees.pay_response(client, case)).json()["code"] == "nothing_to_pay"

    assert (await _issue_result(client, fees, case))["state"] == "processed"
    view = await fees.fees_of(client, case)
    assert [(o["stage"], o["due"], o["paid"]) for o in view["obligations"]] == [
        ("before_processing", 150000, 150000), ("on_result", 25000, 0)]
    assert view["balance"] == 25000
    delivery = {"method": "desk"}
    blocked = await fees.transition(client, case, case.reception, "return_result", delivery=delivery)
    assert (blocked.status_code, blocked.json()["code"]) == (409, "fees_unpaid")

    second = await fees.pay(client, case)
    assert second["amount"] == 25000 and second["obligation_id"] == view["obligations"][1]["id"]
    for callback in fees.bank.complete(str(second["provider_ref"]), mode="duplicate"):
        assert (await fees.deliver(client, callback)).status_code == 200
    assert await fees.state(client, case) == "processed"  # no automatic transition after the result's fees
    view = await fees.fees_of(client, case)
    assert (view["due"], view["paid"], view["balance"]) == (175000, 175000, 0)
    receipt = (await client.get(f"/v1/payments/{second['id']}/receipt", headers=case.citizen.headers)).json()
    assert [(line["name"], line["paid"]) for line in receipt["lines"]] == [
        ("Lệ phí trả kết quả", 20000), ("Phí sao y kết quả", 5000)]
    returned = await fees.transition(client, case, case.reception, "return_result", delivery=delivery)
    assert returned.status_code == 200, returned.text
    assert returned.json()["state"] == "returned"


async def test_a_partial_desk_payment_next_to_an_unpaid_online_attempt(client: httpx.AsyncClient, fees: Fees,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The desk takes part of the fees while the payer's online attempt (for the whole balance) is open; the payer
    # then pays that attempt anyway. The obligation is never overpaid; the online money is flagged to refund.
    case, attempt = await _started(client, fees)
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": f"Q{uuid.uuid4().hex[:8]}", "amount": 100000})
    assert desk.status_code == 201, desk.text
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "expired"
    for callback in fees.bank.complete(str(attempt["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "overpayment"
    online = await payment_of(client, case, str(attempt["id"]))
    assert (online["credited"], online["flag"], online["refundable"]) == (False, "overpayment", BEFORE_TOTAL)
    view = await fees.fees_of(client, case)
    assert (view["paid"], view["balance"]) == (100000, BEFORE_TOTAL - 100000)
    assert await fees.state(client, case) == "payment_requested"
    rest = await fees.pay(client, case)
    assert rest["amount"] == BEFORE_TOTAL - 100000


async def test_a_stale_failure_for_an_expired_attempt_does_not_stop_the_questions(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    # The attempt expired on our clock; the bank then delivers a declined first try's callback late (out of order)
    # while the success on the same order is lost. That callback "confirmed" the expiry, so reconciliation stopped
    # asking and the money was never found. Only the provider's answer about the order itself settles the question.
    case, attempt = await _started(client, fees)
    ref = str(attempt["provider_ref"])
    later(monkeypatch, minutes=91)
    assert (await reconcile(older_than_s=0)).expired == 1
    _lost, stale = fees.bank.complete(ref, mode="reorder")
    assert (await fees.deliver(client, stale)).json()["outcome"] == "ignored"
    later(monkeypatch, minutes=10)
    assert (await reconcile()).settled == 1
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"]) == ("succeeded", True)
    assert await fees.state(client, case) == "received"


async def test_vnpay_money_taken_after_a_cancelled_ipn_is_found_by_querydr(client: httpx.AsyncClient,
                                                                          fees: Fees) -> None:
    # The real adapter: VNPAY's IPN says the payer cancelled (24); querydr, asked later, says the order was paid.
    asked: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content)["vnp_TxnRef"])
        return querydr_answer(request, vnp_Amount=str(BEFORE_TOTAL * 100), vnp_TransactionNo="14000077")

    use_provider("vnpay", VnpayProvider(tmn_code=TMN, hash_secret=SECRET, payment_url="https://vnpay.test/pay",
                                        api_url="https://vnpay.test/api", transport=httpx.MockTransport(api)))
    try:
        case = await fees.case(client)
        await fees.request_payment(client, case)
        attempt = await fees.pay(client, case, provider="vnpay")
        ref = str(attempt["provider_ref"])
        cancelled = await client.get(_ipn(ref, BEFORE_TOTAL, response_code="24", txn="0"))
        assert cancelled.json() == {"RspCode": "00", "Message": "Confirm Success"}
        assert (await payment_of(client, case, str(attempt["id"])))["state"] == "cancelled"
        report = await reconcile(older_than_s=0)
    finally:
        use_provider("vnpay", None)
    assert (report.settled, asked) == (1, [ref])
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"], paid["provider_txn_id"]) == ("succeeded", True, "14000077")
    assert await fees.state(client, case) == "received"


@pytest.mark.parametrize("how", ["reconciliation", "new_payment", "desk"])
async def test_a_payment_the_provider_is_settling_is_not_given_up_after_90_minutes(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    # The provider says the payer has paid and it is still settling (a transfer in clearing can outlast the 90
    # minutes). Expiring the attempt on our clock let the payer (or the desk) pay the same fees a second time.
    case, attempt = await _started(client, fees)
    ref = str(attempt["provider_ref"])
    fees.bank.hold(ref)
    await reconcile(older_than_s=0)
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "submitted"
    later(monkeypatch, minutes=91)
    if how == "reconciliation":
        assert (await reconcile(older_than_s=0)).expired == 0
    elif how == "new_payment":
        again = await fees.pay_response(client, case)
        assert (again.status_code, again.json()["code"]) == (409, "payment_in_progress")
    else:
        desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                                 json={"receipt_number": f"Q{uuid.uuid4().hex[:8]}"})
        assert (desk.status_code, desk.json()["code"]) == (409, "payment_in_progress")
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "submitted"
    for callback in fees.bank.complete(ref):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"
    assert await fees.state(client, case) == "received"


async def test_a_settling_payment_the_provider_then_forgets_expires(client: httpx.AsyncClient, fees: Fees,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Once the provider no longer says it is settling (pending again: nothing paid), the clock applies again.
    case, attempt = await _started(client, fees)
    ref = str(attempt["provider_ref"])
    fees.bank.hold(ref)
    await reconcile(older_than_s=0)
    order = fees.bank.order(ref) or {}
    order["status"] = "pending"
    fees.bank._save(order)
    later(monkeypatch, minutes=91)
    assert (await reconcile(older_than_s=0)).expired == 1
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "expired"
    assert (await fees.pay_response(client, case)).status_code == 201

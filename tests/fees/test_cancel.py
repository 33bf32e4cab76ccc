"""Finance gives up an online payment that will not finish (POST /v1/payments/{id}/cancel): the provider is asked
first, and no money is lost or credited twice whatever it says, or whatever arrives meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.fees.providers import use_provider
from app.fees.providers.base import ProviderError, ProviderStatus
from app.fees.providers.fakepay import FakePayBank, FakePayProvider
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees, later, payment_of


async def _settling(client: httpx.AsyncClient, fees: Fees) -> tuple[Case, dict[str, Any]]:
    """A payment the provider keeps `submitted`: the payer has paid, the bank does not settle."""
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    fees.bank.hold(str(attempt["provider_ref"]))
    await reconcile(older_than_s=0)
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "submitted"
    return case, attempt


async def _cancel(client: httpx.AsyncClient, headers: dict[str, str], payment_id: str,
                  reason: str = "Ngân hàng không quyết toán giao dịch") -> httpx.Response:
    return await client.post(f"/v1/payments/{payment_id}/cancel", headers=headers, json={"reason": reason})


async def _desk(client: httpx.AsyncClient, case: Case, receipt: str) -> httpx.Response:
    return await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": receipt})


async def test_a_payment_the_provider_never_settles_is_cancelled_and_the_desk_takes_over(
        client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    assert (await _desk(client, case, "QD-BEFORE")).json()["code"] == "payment_in_progress"

    response = await _cancel(client, case.finance.headers, str(attempt["id"]))
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["state"] == "cancelled" and cancelled["credited"] is False
    assert cancelled["cancelled_by"] == str(case.finance.id)
    assert cancelled["cancel_reason"] == "Ngân hàng không quyết toán giao dịch"
    assert cancelled["provider_ref"] == attempt["provider_ref"]
    assert (await _desk(client, case, "QD-AFTER")).status_code == 201
    assert await fees.state(client, case) == "received"

    # The bank settles after all: the money is kept for a refund, never credited twice.
    for callback in fees.bank.complete(str(attempt["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "overpayment"
    late = await payment_of(client, case, str(attempt["id"]))
    assert (late["state"], late["credited"], late["flag"], late["refundable"]) == (
        "succeeded", False, "overpayment", BEFORE_TOTAL)
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_a_cancelled_payment_that_settles_while_still_owed_is_credited(client: httpx.AsyncClient,
                                                                              fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]))).status_code == 200
    for callback in fees.bank.complete(str(attempt["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"


async def test_money_settled_after_a_cancel_is_found_by_reconciliation_when_its_callback_is_lost(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    case, attempt = await _settling(client, fees)
    later(monkeypatch, days=3)  # long past the attempt's expiry: only the cancellation keeps it asked about
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]))).status_code == 200
    assert fees.bank.complete(str(attempt["provider_ref"]), mode="never") == []
    assert (await reconcile(older_than_s=0)).settled == 1
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"]) == ("succeeded", True)
    assert await fees.state(client, case) == "received"


async def test_a_cancelled_payment_is_asked_about_for_a_day(client: httpx.AsyncClient, fees: Fees,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    case, attempt = await _settling(client, fees)
    later(monkeypatch, days=3)
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]))).status_code == 200
    assert (await reconcile(older_than_s=0)).checked == 1  # still settling at the bank: asked again later
    later(monkeypatch, days=1, minutes=1)
    assert (await reconcile(older_than_s=0)).checked == 0


async def test_a_payment_the_provider_reports_paid_is_credited_not_cancelled(client: httpx.AsyncClient,
                                                                           fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    callbacks = fees.bank.complete(str(attempt["provider_ref"]))  # settled; its callback not delivered yet
    response = await _cancel(client, case.finance.headers, str(attempt["id"]))
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "payment_succeeded"
    assert response.json()["extra"]["payment_id"] == attempt["id"]
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"], paid["cancelled_by"]) == ("succeeded", True, None)
    assert await fees.state(client, case) == "received"
    for callback in callbacks:  # the callback, when it comes, is news already applied
        assert (await fees.deliver(client, callback)).json()["outcome"] == "duplicate"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_a_payment_the_provider_reports_failed_is_recorded_failed(client: httpx.AsyncClient,
                                                                       fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    fees.bank.complete(str(attempt["provider_ref"]), "failed", mode="never")
    response = await _cancel(client, case.finance.headers, str(attempt["id"]))
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["cancelled_by"]) == ("failed", None)
    assert (await fees.pay_response(client, case)).status_code == 201  # the fees can be paid again


async def test_an_unreachable_provider_changes_nothing(client: httpx.AsyncClient, fees: Fees) -> None:
    class Down(FakePayProvider):
        async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
            raise ProviderError("connection refused")

    case, attempt = await _settling(client, fees)
    use_provider("fakepay", Down(fees.bank))
    try:
        response = await _cancel(client, case.finance.headers, str(attempt["id"]))
    finally:
        use_provider("fakepay", None)
    assert (response.status_code, response.json()["code"]) == (503, "payment_provider_unavailable")
    assert (await payment_of(client, case, str(attempt["id"])))["state"] == "submitted"


async def test_ended_and_desk_payments_are_not_cancelled(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]))).status_code == 200
    again = await _cancel(client, case.finance.headers, str(attempt["id"]))
    assert (again.status_code, again.json()["code"], again.json()["extra"]["state"]) == (
        409, "payment_not_live", "cancelled")

    desk = (await _desk(client, case, "QD-DESK")).json()
    refused = await _cancel(client, case.finance.headers, str(desk["id"]))
    assert (refused.status_code, refused.json()["code"]) == (409, "payment_not_cancellable")

    paid_case, paid = await fees.paid_case(client)
    answer = await _cancel(client, paid_case.finance.headers, str(paid["id"]))
    assert (answer.status_code, answer.json()["code"], answer.json()["extra"]["payment_id"]) == (
        409, "payment_succeeded", paid["id"])


async def test_only_finance_at_the_dossiers_agency_cancels(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    pid = str(attempt["id"])
    for headers in (case.citizen.headers, case.reception.headers):
        assert (await _cancel(client, headers, pid)).status_code == 403
    elsewhere = await fees.accounts.official("000.00.77.H77", ["finance"])
    assert (await _cancel(client, elsewhere.headers, pid)).status_code == 404
    blank = await _cancel(client, case.finance.headers, pid, reason="   ")
    assert (blank.status_code, blank.json()["code"]) == (422, "validation_error")
    assert (await payment_of(client, case, pid))["state"] == "submitted"


async def test_a_retry_with_its_key_replays_the_cancellation(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    headers = {**case.finance.headers, "Idempotency-Key": "cancel-once"}
    first = await _cancel(client, headers, str(attempt["id"]))
    second = await _cancel(client, headers, str(attempt["id"]))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers.get("Idempotent-Replayed") == "true" and second.json() == first.json()


class StaleStatus(FakePayProvider):
    """The bank's status answer as it was before the payment settled (the settlement's callback overtakes it)."""

    def __init__(self, bank: FakePayBank, before_answering: Any = None) -> None:
        super().__init__(bank)
        self.before_answering = before_answering

    async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
        if self.before_answering is not None:
            await self.before_answering()
        return ProviderStatus("processing")


async def test_a_success_callback_arriving_while_the_provider_is_asked_wins(client: httpx.AsyncClient,
                                                                          fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    outcomes: list[str] = []

    async def settle_meanwhile() -> None:
        for callback in fees.bank.complete(str(attempt["provider_ref"])):
            outcomes.append((await fees.deliver(client, callback)).json()["outcome"])

    use_provider("fakepay", StaleStatus(fees.bank, settle_meanwhile))
    try:
        response = await _cancel(client, case.finance.headers, str(attempt["id"]))
    finally:
        use_provider("fakepay", None)
    assert outcomes == ["credited"]
    assert (response.status_code, response.json()["code"]) == (409, "payment_succeeded")
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"], paid["cancelled_by"]) == ("succeeded", True, None)
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_a_cancel_racing_the_success_callback_credits_once(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]))
    use_provider("fakepay", StaleStatus(fees.bank))  # the cancel hears "still settling", whichever comes first
    try:
        cancelled, delivered = await asyncio.gather(_cancel(client, case.finance.headers, str(attempt["id"])),
                                                    fees.deliver(client, callback))
    finally:
        use_provider("fakepay", None)
    # Cancelled first, the success takes the late path (still owed: credited); else the cancel finds it paid.
    assert delivered.json()["outcome"] == "credited"
    assert cancelled.status_code == 200 or cancelled.json()["code"] == "payment_succeeded", cancelled.text
    paid = await payment_of(client, case, str(attempt["id"]))
    assert (paid["state"], paid["credited"]) == ("succeeded", True)
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"


async def test_a_cancel_racing_reconciliation_credits_once(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _settling(client, fees)
    fees.bank.complete(str(attempt["provider_ref"]), mode="never")
    report, cancelled = await asyncio.gather(reconcile(older_than_s=0),
                                             _cancel(client, case.finance.headers, str(attempt["id"])))
    assert (cancelled.status_code, cancelled.json()["code"]) == (409, "payment_succeeded")
    assert report.errors == 0
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert (await payment_of(client, case, str(attempt["id"])))["credited"] is True

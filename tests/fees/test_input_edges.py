"""What a careless or hostile payer, official or provider can send to the fees routes, at the edges left after
test_callback_and_money_inputs.py: free text and URLs the payer's browser and the provider receive, desk receipt
numbers, and VNPAY refund answers that are not what its protocol promises. Each bad input is a 4xx problem with a
stable code (or a refund kept `submitted` for finance), never a 500, and never money recorded wrongly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import get_database
from app.fees import callbacks
from app.fees.models import FeeObligation, PaymentAttempt, Refund
from app.fees.providers import use_provider
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees
from tests.fees.test_callback_and_money_inputs import _ipn, _vnpay
from tests.fees.vnpay_support import refund_answer, refund_api, signed_refund_answer
from tests.support.edges import expect_problem

T = TypeVar("T")


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    # An unhandled error must come back as a 500 response to assert on, not be raised into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _requested(client: httpx.AsyncClient, fees: Fees) -> Case:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    return case


@pytest.mark.parametrize("reason", ["Hoàn\x01phí", "Hoàn\x00phí", "\u200b"], ids=["control", "nul", "invisible"])
async def test_refund_reason_with_control_characters_or_nothing_visible_is_422(client: httpx.AsyncClient,
                                                                               fees: Fees, reason: str) -> None:
    # SQLite stored these and they went on to the provider; PostgreSQL refused a NUL naming no field.
    case, attempt = await fees.paid_case(client)
    response = await client.post(f"/v1/payments/{attempt['id']}/refunds", headers=case.finance.headers,
                                 json={"amount": 1000, "reason": reason, "expected_available": BEFORE_TOTAL})
    body = expect_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "reason"]
    assert (await fees.fees_of(client, case))["refunded"] == 0


@pytest.mark.parametrize("url", ["https://portal.example/return\x01", "https://portal.example/\x00",
                                 "https://user:secret@portal.example/return", "https://:secret@portal.example/"],
                         ids=["control", "nul", "credentials", "password_only"])
async def test_return_url_with_control_characters_or_credentials_is_422(client: httpx.AsyncClient, fees: Fees,
                                                                        url: str) -> None:
    # Taken before: a secret in the URL travelled to the provider; a NUL was stored by SQLite only.
    case = await _requested(client, fees)
    response = await client.post(f"/v1/dossiers/{case.id}/payments", headers=case.citizen.headers,
                                 json={"provider": "fakepay", "return_url": url})
    body = expect_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "return_url"]
    assert (await fees.pay(client, case))["state"] == "started"  # no attempt was left live


async def test_desk_receipt_number_in_the_issued_shape_cannot_block_an_online_payment(client: httpx.AsyncClient,
                                                                                     fees: Fees) -> None:
    """An online payment's receipt number follows from its id, which the payer and the agency see before it
    succeeds: typed at the desk for another dossier, it made that payment's success fail on a unique index
    (500 to fakepay, "99" to VNPAY and reconciliation on every try), so the money was never credited."""
    victim = await _requested(client, fees)
    attempt = await fees.pay(client, victim)
    other = await _requested(client, fees)
    issued = f"BL-{clock.local(clock.now()):%y%m%d}-{uuid.UUID(attempt['id']).hex[:10].upper()}"
    response = await client.post(f"/v1/dossiers/{other.id}/payments/counter", headers=other.finance.headers,
                                 json={"receipt_number": issued})
    body = expect_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "receipt_number"]
    for callback in fees.bank.complete(attempt["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    assert (await fees.fees_of(client, victim))["paid"] == BEFORE_TOTAL


async def _vnpay_refund(client: httpx.AsyncClient, fees: Fees, answer: Callable[[dict[str, str]], Any] | None = None,
                        api: httpx.MockTransport | None = None) -> tuple[httpx.Response, dict[str, Any]]:
    """A VNPAY payment credited by its IPN, then refunded 1,000 đ with VNPAY answering answer(request) (JSON), or
    as `api` answers."""
    use_provider("vnpay", _vnpay(api or refund_api(answer or (lambda body: {}))))
    try:
        case = await _requested(client, fees)
        attempt = await fees.pay(client, case, provider="vnpay")
        ipn = await client.get(_ipn(attempt["provider_ref"], BEFORE_TOTAL * 100, txn=uuid.uuid4().hex[:12]))
        assert ipn.json()["RspCode"] == "00", ipn.text
        response = await client.post(f"/v1/payments/{attempt['id']}/refunds", headers=case.finance.headers,
                                     json={"amount": 1000, "reason": "Hoàn phí", "expected_available": BEFORE_TOTAL})
    finally:
        use_provider("vnpay", None)
    return response, attempt


async def test_vnpay_refund_answer_that_is_not_an_object_keeps_the_refund_submitted(client: httpx.AsyncClient,
                                                                                    fees: Fees) -> None:
    # dict(123) raised out of the adapter: a 500 to finance, with the amount already reserved.
    response, _ = await _vnpay_refund(client, fees, lambda body: 123)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "submitted"


async def test_vnpay_refund_answer_nested_too_deep_to_read_keeps_the_refund_submitted(client: httpx.AsyncClient,
                                                                                       fees: Fees) -> None:
    # The JSON parser's RecursionError escaped the adapter: a 500 to finance and nothing recorded, though VNPAY may
    # have given the money back.
    deep = httpx.MockTransport(lambda request: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))
    response, _ = await _vnpay_refund(client, fees, api=deep)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "submitted"


async def test_vnpay_refund_success_with_an_id_too_long_to_store_is_recorded(client: httpx.AsyncClient,
                                                                            fees: Fees) -> None:
    # PostgreSQL refused the 200-character id: 422 to finance and the refund left `submitted` though VNPAY had
    # paid it back; SQLite stored what the column cannot hold.
    response, _ = await _vnpay_refund(
        client, fees, lambda body: signed_refund_answer(refund_answer(body, vnp_TransactionNo="9" * 200)))
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "succeeded"
    async with get_database().read_sessions() as session:
        stored = (await session.execute(select(Refund.provider_refund_id)
                                        .where(Refund.id == uuid.UUID(response.json()["id"])))).scalar_one()
    assert stored is None


async def test_a_desk_payment_next_to_the_late_success_of_an_expired_attempt_does_not_deadlock(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk expired stale attempts while holding the obligation's lock; a callback holds the attempt's lock
    and then waits for the obligation's. On PostgreSQL one of them was killed as a deadlock (a 500). SQLite has
    one writer at a time: there the two simply run one after the other."""
    case = await _requested(client, fees)
    attempt = await fees.pay(client, case)
    async with get_database().write_sessions() as session, session.begin():  # its 90 minutes are over
        await session.execute(update(PaymentAttempt).where(PaymentAttempt.id == uuid.UUID(attempt["id"]))
                              .values(expires_at=clock.now() - timedelta(seconds=1)))
    [callback] = fees.bank.complete(attempt["provider_ref"])
    real_lock = callbacks.lock_obligation

    async def slow_lock(session: AsyncSession, obligation_id: uuid.UUID) -> FeeObligation:
        await asyncio.sleep(0.3)  # widen the window between the callback's two locks
        return await real_lock(session, obligation_id)

    async def later(request: Awaitable[T]) -> T:
        await asyncio.sleep(0.1)  # once the callback holds the attempt
        return await request

    monkeypatch.setattr(callbacks, "lock_obligation", slow_lock)
    delivered, desk = await asyncio.gather(
        fees.deliver(client, callback),
        later(client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                          json={"receipt_number": "QD0001"})))
    assert delivered.status_code == 200, delivered.text
    expect_problem(desk, 409, "nothing_to_pay")  # the late success paid it
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL

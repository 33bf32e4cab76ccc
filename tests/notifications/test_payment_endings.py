"""An online payment that ends without money tells the applicant what is still owed and how to pay again: finance
cancelling it (`payment.cancelled`), the provider failing or cancelling it, or it expiring unfinished
(`payment.failed`, which is also a webhook event)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core import clock
from app.core.db import get_database
from app.core.delivery import run_consumer
from app.core.outbox import OutboxEvent
from app.fees.reconcile import reconcile
from app.integration import ssrf
from app.integration.models import WebhookSubscription
from app.integration.schemas import WebhookCreate
from app.integration.webhooks import WebhookConsumer
from tests.fees.conftest import Fees, later
from tests.fees.test_cancel import _cancel, _settling
from tests.notifications.conftest import deliver, message_rows
from tests.support.identity_fixtures import DEFAULT_AGENCY

REASON = "Ngân hàng không quyết toán giao dịch"


@pytest.fixture
def fees(accounts, dossiers) -> Fees:  # type: ignore[no-untyped-def]
    return Fees(accounts, dossiers)


def _text(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


async def _events(event_type: str) -> list[OutboxEvent]:
    async with get_database().read_sessions() as session:
        stmt = select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        return list((await session.execute(stmt)).scalars())


async def test_finance_cancelling_a_payment_tells_the_applicant_to_pay_again(client: httpx.AsyncClient, fees: Fees,
                                                                              mail) -> None:
    case, attempt = await _settling(client, fees)
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]), REASON)).status_code == 200
    await deliver()
    code = case.dossier["code"]
    [message] = [m for m in mail.messages if "hủy" in m["Subject"]]
    assert message["Subject"] == f"[{code}] Đã hủy giao dịch thanh toán trực tuyến 500.000 đồng"
    text = _text(message)
    assert f"(lý do: {REASON})" in text
    assert "Số tiền còn phải nộp: 500.000 đồng" in text and "Bộ phận một cửa" in text
    assert "được hoàn trả" in text  # money the provider settles later is not lost
    [row] = [r for r in await message_rows() if r.kind == "payment_cancelled"]
    assert (row.event_type, row.channel, row.required) == ("payment.cancelled", "email", False)


async def test_a_cancelled_payment_whose_fees_were_paid_meanwhile_asks_for_nothing(client: httpx.AsyncClient,
                                                                                   fees: Fees, mail) -> None:
    case, attempt = await _settling(client, fees)
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]), REASON)).status_code == 200
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": "BL-7001"})
    assert desk.status_code == 201, desk.text
    await deliver()  # the message goes out after the desk payment: it says what is owed now
    [message] = [m for m in mail.messages if "hủy" in m["Subject"]]
    text = _text(message)
    assert "Số tiền còn phải nộp" not in text and "đã được nộp đủ" in text


async def test_an_optional_message_follows_the_channel_choices(client: httpx.AsyncClient, fees: Fees, mail) -> None:
    case, attempt = await _settling(client, fees)
    off = await client.patch("/v1/accounts/me/notification-preferences", headers=case.citizen.headers,
                             json={"email": False})
    assert off.status_code == 200, off.text
    assert (await _cancel(client, case.finance.headers, str(attempt["id"]), REASON)).status_code == 200
    await deliver()
    # The payment request (legally required) still came; the cancellation notice (not required) does not.
    assert [r.kind for r in await message_rows()] == ["payment_requested"]
    assert not [m for m in mail.messages if "hủy" in m["Subject"]]


async def test_an_expired_attempt_tells_the_applicant_once(client: httpx.AsyncClient, fees: Fees, mail,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)  # the payer leaves the provider's page without paying
    later(monkeypatch, minutes=91)
    assert (await reconcile(older_than_s=0)).expired == 1
    await reconcile(older_than_s=0)  # asked again: nothing more is announced
    [event] = await _events("payment.failed")
    assert event.payload["outcome"] == "expired" and event.payload["payment_id"] == attempt["id"]
    assert event.payload["stage"] == "before_processing" and event.aggregate_type == "dossier"
    await deliver()
    [message] = [m for m in mail.messages if "không thành công" in m["Subject"]]
    assert message["Subject"] == f"[{case.dossier['code']}] Thanh toán trực tuyến 500.000 đồng không thành công"
    text = _text(message)
    assert "đã hết hạn" in text and "trong 90 phút" in text and "Số tiền còn phải nộp: 500.000 đồng" in text


async def test_a_failure_the_provider_reports_is_announced_once(client: httpx.AsyncClient, fees: Fees,
                                                                mail) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    callbacks = fees.bank.complete(str(attempt["provider_ref"]), "failed")
    for callback in [*callbacks, *callbacks]:  # delivered twice: one announcement
        assert (await fees.deliver(client, callback)).status_code == 200
    [event] = await _events("payment.failed")
    assert event.payload["outcome"] == "failed"
    await deliver()
    [message] = [m for m in mail.messages if "không thành công" in m["Subject"]]
    assert "bị từ chối" in _text(message)
    assert (await fees.pay_response(client, case)).status_code == 201  # and they may pay again


async def test_a_different_amount_is_announced_as_such_not_as_declined(client: httpx.AsyncClient, fees: Fees,
                                                                       mail) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]), amount=499000)
    assert (await fees.deliver(client, callback)).json()["outcome"] == "amount_mismatch"
    [event] = await _events("payment.failed")
    assert (event.payload["outcome"], event.payload["amount"], event.payload["reported_amount"]) == (
        "amount_mismatch", 500000, 499000)
    await deliver()
    [message] = [m for m in mail.messages if "không thành công" in m["Subject"]]
    text = _text(message)
    assert "đơn vị thanh toán báo số tiền 499.000 đồng, khác với số tiền của giao dịch" in text
    assert "hoàn trả cho Ông/Bà; khoản tiền đó không được tính vào phí" in text
    assert "bị từ chối" not in text and "khi đơn vị thanh toán xác nhận" not in text  # it is never credited
    assert "Số tiền còn phải nộp: 500.000 đồng" in text


async def test_a_payment_superseded_by_a_new_one_announces_nothing(client: httpx.AsyncClient, fees: Fees,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    await fees.pay(client, case)
    later(monkeypatch, minutes=91)
    await fees.pay(client, case)  # the payer is paying already: the stale attempt ends quietly
    assert await _events("payment.failed") == []


async def test_integrators_may_subscribe_to_payment_failed(client: httpx.AsyncClient, fees: Fees, accounts,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert WebhookCreate.model_validate({"url": "https://hooks.example.com/dvc",
                                         "event_types": ["payment.failed"]}).event_types == ["payment.failed"]

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    monkeypatch.setattr(ssrf, "resolve", public)
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    async with get_database().write_sessions() as session, session.begin():
        session.add(WebhookSubscription(client_id=integrator.id, url="https://hooks.example.com/dvc",
                                        secret="whsec_test", event_types=["payment.failed"], active=True,
                                        created_at=clock.now()))
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    for callback in fees.bank.complete(str(attempt["provider_ref"]), "cancelled"):
        assert (await fees.deliver(client, callback)).status_code == 200
    received: list[httpx.Request] = []
    consumer = WebhookConsumer(httpx.MockTransport(lambda request: received.append(request) or httpx.Response(204)))
    await run_consumer(consumer)
    [request] = received
    body = json.loads(request.content)
    assert (body["type"], body["data"]["payment_id"], body["data"]["outcome"]) == (
        "payment.failed", attempt["id"], "cancelled")

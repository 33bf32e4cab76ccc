"""Audit of session 11: what reaches the applicant, and how often."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core import delivery as core_delivery
from app.core.delivery import deliver_due, fan_out
from app.core.settings import get_settings
from app.notifications import channels
from app.notifications.channels.sms import SmsChannel
from app.notifications.consumer import consumer
from app.notifications.masking import mask_text
from tests.fees.conftest import Fees
from tests.notifications.conftest import deliver, make_due

URL = "/v1/accounts/me/notification-preferences"


@pytest.fixture
def fees(accounts, dossiers) -> Fees:  # type: ignore[no-untyped-def]
    return Fees(accounts, dossiers)


def _text(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


class SlowSms:
    """An SMS channel whose every send takes half a second, and which remembers what it sent."""

    name = "sms"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def describe(self) -> str:
        return "slow"

    async def send(self, message: Any) -> None:
        await asyncio.sleep(0.5)
        self.sent.append(message.reference)


async def test_two_workers_never_send_one_message_twice(client, flow, accounts,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch is sent one row at a time; a row's lease, taken at claim time, ran out before its turn, a second
    # worker claimed it, and both sent it (issue 10: "a message is never sent twice for one event").
    monkeypatch.setattr(core_delivery, "LEASE", timedelta(seconds=1))
    slow = SlowSms()
    channels.install(slow)
    try:
        code = await flow.procedure()
        for n in range(4):
            citizen = await accounts.citizen(phone=f"091234567{n}")
            assert (await client.patch(URL, headers=citizen.headers,
                                       json={"email": False, "sms": True})).status_code == 200
            await flow.submitted(code, citizen)
        await fan_out(consumer)
        first = asyncio.create_task(deliver_due(consumer))
        await asyncio.sleep(1.2)  # the first worker's later rows are past their claim-time lease
        await deliver_due(consumer)
        await first
        for _ in range(3):  # whatever the first worker gave up is due again for anyone
            await asyncio.sleep(1.1)
            await deliver_due(consumer)
    finally:
        channels.uninstall_all()
    assert len(slow.sent) == 4 and len(set(slow.sent)) == 4, slow.sent


async def test_money_paid_for_a_withdrawn_dossier_is_announced_as_a_refund(client, fees, mail) -> None:
    # It said "the fees are settled; your dossier will now be processed" to an applicant who had withdrawn.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    withdrawn = await fees.transition(client, case, case.citizen, "withdraw", reason="Không còn nhu cầu")
    assert withdrawn.status_code == 200, withdrawn.text
    for callback in fees.bank.complete(attempt["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    await deliver()
    [paid] = [m for m in mail.messages if "Đã nhận khoản nộp" in m["Subject"]]
    assert "sẽ được hoàn trả" in _text(paid) and "tiếp tục giải quyết" not in _text(paid)


async def test_the_payment_request_names_the_amount_requested_even_when_sent_late(client, fees, mail) -> None:
    # Rendered when sent: after an SMTP outage during which the fees were paid at the desk, it said 0 đồng.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    mail.stop()
    await deliver()
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": "QD-LATE"})
    assert desk.status_code == 201, desk.text
    mail.start()
    for _ in range(4):
        await make_due()
        await deliver()
    [requested] = [m for m in mail.messages if "nghĩa vụ tài chính" in m["Subject"]]
    assert requested["Subject"].endswith("500.000 đồng"), requested["Subject"]


async def test_provider_refusal_texts_are_masked_in_logs_and_errors(client, flow, accounts, caplog) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        phone = json.loads(request.content)["Phone"]
        return httpx.Response(200, json={"CodeResult": "146", "ErrorMessage": f"Phone {phone} is in blacklist"})

    settings = get_settings().model_copy(update={"sms_api_key": "k", "sms_secret_key": "s", "sms_brandname": "B"})
    channels.install(SmsChannel(settings, transport=httpx.MockTransport(refuse)))
    try:
        code = await flow.procedure()
        citizen = await accounts.citizen(phone="0912345678")
        await client.patch(URL, headers=citizen.headers, json={"email": False, "sms": True})
        _, dossier = await flow.submitted(code, citizen)
        with caplog.at_level(logging.INFO):
            await deliver()
    finally:
        channels.uninstall_all()
    assert "84912345678" not in caplog.text
    listed = await client.get(f"/v1/dossiers/{dossier['id']}/notifications", headers=flow.reception.headers)
    error = listed.json()["items"][0]["last_error"]
    assert "84912345678" not in error and "84*******78" in error


def test_masking_keeps_ip_addresses() -> None:
    assert mask_text("Error connecting to 127.0.0.1 on port 25") == "Error connecting to 127.0.0.1 on port 25"
    assert mask_text("call 0912 345 678 or 10.0.0.12") == "call 09******78 or 10.0.0.12"


async def test_a_required_message_whose_channel_gives_up_goes_to_the_next_one(client, flow, accounts, mail, zalo,
                                                                               monkeypatch) -> None:
    # Issue 10: required messages "always go to at least one channel the applicant has". Zalo only, and the
    # phone has no Zalo account: the refusal died there and the verified email was never tried.
    monkeypatch.setenv("DVC_NOTIFICATION_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    try:
        code = await flow.procedure()
        citizen = await accounts.citizen(email="lan@example.vn", phone="0912345678")
        await client.patch(URL, headers=citizen.headers, json={"email": False, "zalo": True})
        zalo.fail(error=-118)
        _, dossier = await flow.submitted(code, citizen)
        await flow.act(flow.reception, dossier["id"], "reject", reason="Không thuộc thẩm quyền")
        for _ in range(6):
            await make_due()
            await deliver()
    finally:
        get_settings.cache_clear()
    listed = (await client.get(f"/v1/dossiers/{dossier['id']}/notifications", headers=citizen.headers)).json()
    refusal = [(i["channel"], i["state"], i["required"]) for i in listed["items"] if i["kind"] == "refused"]
    assert refusal == [("zalo", "failed", False), ("email", "delivered", True)]
    assert [m["To"] for m in mail.messages if "từ chối" in m["Subject"].lower()] == ["lan@example.vn"]
    # A message that is not required (the submission receipt) is not moved to another channel.
    submitted = [(i["channel"], i["state"]) for i in listed["items"] if i["kind"] == "submitted"]
    assert submitted == [("zalo", "failed")]

"""Audit of session 11: what reaches the applicant, and how often."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app.core import delivery as core_delivery
from app.core.delivery import deliver_due, fan_out
from app.notifications import channels
from app.notifications.consumer import consumer

URL = "/v1/accounts/me/notification-preferences"


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

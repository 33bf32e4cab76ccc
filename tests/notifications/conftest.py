"""Notification fixtures: a real SMTP server (aiosmtpd) capturing messages, fake SMS and Zalo providers, and the
workflow's `Flow` to drive dossiers over HTTP.

    async def test_x(flow, mail, sms, zalo):
        citizen, dossier = await flow.submitted(await flow.procedure())
        await flow.act(flow.reception, dossier["id"], "receive")
        await deliver()                       # one worker pass of the notifications consumer
        message = mail.only()                 # email.message.EmailMessage, parsed with policy.default
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from app.core import clock
from app.core.db import get_database
from app.core.delivery import Delivery, RunStats
from app.core.settings import get_settings
from app.notifications import channels
from app.notifications.channels.sms import FakeSmsProvider, SmsChannel
from app.notifications.channels.zalo import FakeZaloProvider, ZaloChannel
from app.notifications.consumer import deliver_notifications
from app.notifications.models import NotificationMessage
from tests.support.net import free_port

MAIL_FROM = "Cổng Dịch vụ công <no-reply@dvc.example.vn>"


class _Capture:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class MailServer:
    """A real SMTP server on 127.0.0.1; `stop()` / `start()` simulate an outage on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.capture = _Capture()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.capture, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [m for _, m in self.capture.messages]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.capture.messages if address in rcpt]

    def only(self) -> EmailMessage:
        assert len(self.messages) == 1, [m["Subject"] for m in self.messages]
        return self.messages[0]


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    monkeypatch.setenv("DVC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DVC_SMTP_PORT", str(server.port))
    monkeypatch.setenv("DVC_SMTP_STARTTLS", "false")
    monkeypatch.setenv("DVC_SMTP_TIMEOUT_S", "5")
    monkeypatch.setenv("DVC_MAIL_FROM", MAIL_FROM)
    get_settings.cache_clear()
    yield server
    server.stop()
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def sms() -> Iterator[FakeSmsProvider]:
    fake = FakeSmsProvider()
    settings = get_settings().model_copy(update={"sms_api_key": fake.api_key, "sms_secret_key": fake.secret_key,
                                                 "sms_brandname": "DVC-HATINH"})
    channels.install(SmsChannel(settings, transport=fake.transport))
    yield fake
    channels.uninstall_all()


@pytest.fixture
def zalo() -> Iterator[FakeZaloProvider]:
    fake = FakeZaloProvider()
    settings = get_settings().model_copy(update={"zalo_access_token": fake.access_token,
                                                 "zalo_template_id": fake.template_id})
    channels.install(ZaloChannel(settings, transport=fake.transport))
    yield fake
    channels.uninstall_all()


async def deliver() -> RunStats:
    """One worker pass of the notifications consumer (fan-out, then delivery of what is due)."""
    return await deliver_notifications()


async def make_due() -> None:
    """Let scheduled retries run now (as if their backoff had passed)."""
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(Delivery).where(Delivery.state == "pending").values(next_attempt_at=clock.now()))


async def message_rows() -> list[NotificationMessage]:
    async with get_database().read_sessions() as session:
        return list((await session.execute(select(NotificationMessage).order_by(NotificationMessage.id))).scalars())


async def settle() -> None:
    """Give the SMTP server's thread a moment to hand over what it received."""
    await asyncio.sleep(0)

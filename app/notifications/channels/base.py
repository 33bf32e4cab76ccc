"""The channel adapter interface: one `send` per message, raising `ChannelError` on any failure.

Adapters never touch the database; they get a rendered `OutgoingMessage` and an address. A failure is retried
by the outbox delivery (app/core/delivery.py); adapters do not retry themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx


class ChannelError(Exception):
    """The channel could not deliver (server down, provider 5xx or an error code); the text is already masked."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str = "application/pdf"


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message for one recipient on one channel."""

    recipient: str  # email address or phone number, as stored
    subject: str
    text: str  # the full plain-text body (email)
    html: str  # the same body as HTML (email)
    short: str  # the short form (SMS, Zalo)
    dossier_code: str | None
    reference: str  # stable per (event, channel): Message-ID, provider request id
    attachments: list[Attachment] = field(default_factory=list)


class Channel(Protocol):
    name: str

    def describe(self) -> str:
        """Where it sends (host, provider URL), for the start-up line; never a secret."""
        ...

    async def send(self, message: OutgoingMessage) -> None: ...


@dataclass
class ScriptedFailures:
    """How a local fake provider misbehaves on purpose: an HTTP `status`, or a provider `error` answered with
    HTTP 200, for the next `times` requests (forever when None). Shared by the SMS and Zalo fakes."""

    status: int | None = None
    error: str | int | None = None
    times: int | None = None

    def next_fails(self) -> bool:
        if self.status is None and self.error is None:
            return False
        if self.times is not None:
            if self.times <= 0:
                return False
            self.times -= 1
        return True


@dataclass
class FakeProvider:
    """The part the SMS and Zalo fakes share: an httpx transport that counts requests, records the accepted
    bodies, and misbehaves on purpose (`failures`) before it looks at a request. A fake says how its provider
    refuses (`refusal`) and what it answers otherwise (`answer`)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    failures: ScriptedFailures = field(default_factory=ScriptedFailures)
    failure_text: ClassVar[str] = "Service Unavailable"

    def recover(self) -> None:
        self.failures = ScriptedFailures()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failures.next_fails():
            if self.failures.status is not None:
                return httpx.Response(self.failures.status, text=self.failure_text)
            return httpx.Response(200, json=self.refusal(self.failures.error, "fake failure"))
        return self.answer(request)

    def refusal(self, error: str | int | None, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

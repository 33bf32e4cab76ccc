"""The channel adapter interface: one `send` per message, raising `ChannelError` on any failure.

Adapters never touch the database; they get a rendered `OutgoingMessage` and an address. A failure is retried
by the outbox delivery (app/core/delivery.py); adapters do not retry themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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


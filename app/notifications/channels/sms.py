"""SMS through a Vietnamese brandname-SMS provider's HTTP API (eSMS.vn's JSON API: SendMultipleMessage_V4).

Request: POST JSON {ApiKey, SecretKey, Phone, Content, Brandname, SmsType: "2" (customer care), IsUnicode,
RequestId}; answer {"CodeResult": "100", "SMSID": ...} when accepted, another CodeResult otherwise (e.g. "101"
wrong keys, "99" unknown error). `FakeSmsProvider` speaks the same wire format locally and records what it got.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.settings import Settings
from app.notifications.channels.base import ChannelError, FakeProvider, OutgoingMessage, ScriptedFailures
from app.notifications.channels.http import international, post_json, without_diacritics
from app.notifications.masking import mask_text

ACCEPTED = "100"


class SmsChannel:
    name = "sms"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = settings.sms_api_url
        self.api_key = settings.sms_api_key
        self.secret_key = settings.sms_secret_key
        self.brandname = settings.sms_brandname
        self.unicode = settings.sms_unicode
        self.timeout = settings.notification_timeout_s
        self.transport = transport

    def describe(self) -> str:
        return f"SMS provider {self.url} as {self.brandname or '(no brandname)'}"

    async def send(self, message: OutgoingMessage) -> None:
        content = message.short if self.unicode else without_diacritics(message.short)
        body = {"ApiKey": self.api_key, "SecretKey": self.secret_key, "Phone": international(message.recipient),
                "Content": content, "Brandname": self.brandname, "SmsType": "2",
                "IsUnicode": 1 if self.unicode else 0, "RequestId": message.reference}
        answer = await post_json(self.url, body, headers=None, timeout_s=self.timeout, transport=self.transport,
                                 provider="SMS provider")
        code = str(answer.get("CodeResult"))
        if code != ACCEPTED:
            raise ChannelError(f"SMS provider refused the message: CodeResult {code} "
                               f"{mask_text(str(answer.get('ErrorMessage') or ''))[:200]}".rstrip())


@dataclass
class FakeSmsProvider(FakeProvider):
    """A local eSMS-compatible endpoint (an httpx transport): checks the keys, records accepted messages.

    `fail(status=...)` answers that HTTP status (e.g. 503) to the next `times` requests (forever when None);
    `fail(code=...)` answers HTTP 200 with that CodeResult instead."""

    api_key: str = "test-sms-key"
    secret_key: str = "test-sms-secret"  # noqa: S105  (the fake provider's own test key)

    def fail(self, *, status: int | None = None, code: str | None = None, times: int | None = None) -> None:
        self.failures = ScriptedFailures(status=status, error=code, times=times)

    def refusal(self, error: str | int | None, message: str) -> dict[str, Any]:
        return {"CodeResult": error, "ErrorMessage": message}

    def answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("ApiKey") != self.api_key or body.get("SecretKey") != self.secret_key:
            return httpx.Response(200, json=self.refusal("101", "Authorize Failed"))
        if not str(body.get("Phone", "")).isdigit() or not body.get("Content"):
            return httpx.Response(200, json=self.refusal("99", "Phone or Content invalid"))
        self.received.append(body)
        return httpx.Response(200, json={"CodeResult": ACCEPTED, "CountRegenerate": 0, "SMSID": uuid.uuid4().hex})

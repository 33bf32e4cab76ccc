"""Zalo through the Zalo Official Account's ZNS API (Zalo Notification Service, template messages by phone).

Request: POST {zalo_api_url} with header `access_token`, JSON {phone: "84...", template_id, template_data,
tracking_id}; answer {"error": 0, "message": "Success", "data": {"msg_id": ...}} when accepted, a negative
`error` otherwise (e.g. -124 invalid access token, -108 invalid phone). ZNS sends only approved templates: the
OA registers one template (DVC_ZALO_TEMPLATE_ID) with the parameters dossier_code, title and content.
`FakeZaloProvider` speaks the same wire format locally and records what it got.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from app.core.settings import Settings
from app.notifications.channels.base import ChannelError, FakeProvider, OutgoingMessage, ScriptedFailures
from app.notifications.channels.http import international, post_json
from app.notifications.masking import mask_text


class ZaloChannel:
    name = "zalo"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = settings.zalo_api_url
        self.access_token = settings.zalo_access_token
        self.template_id = settings.zalo_template_id
        self.timeout = settings.notification_timeout_s
        self.transport = transport

    def describe(self) -> str:
        return f"Zalo ZNS {self.url} template {self.template_id}"

    async def send(self, message: OutgoingMessage) -> None:
        body = {"phone": international(message.recipient), "template_id": self.template_id,
                "template_data": {"dossier_code": message.dossier_code or "", "title": message.subject,
                                  "content": message.short},
                "tracking_id": message.reference}
        answer = await post_json(self.url, body, headers={"access_token": self.access_token},
                                 timeout_s=self.timeout, transport=self.transport, provider="Zalo ZNS")
        if answer.get("error") != 0:
            raise ChannelError(f"Zalo ZNS refused the message: error {answer.get('error')} "
                               f"{mask_text(str(answer.get('message') or ''))[:200]}".rstrip())


@dataclass
class FakeZaloProvider(FakeProvider):
    """A local ZNS-compatible endpoint (an httpx transport): checks token and template, records messages.

    `fail(status=...)` answers that HTTP status to the next `times` requests (forever when None);
    `fail(error=...)` answers HTTP 200 with that negative error code instead."""

    access_token: str = "test-zalo-token"  # noqa: S105  (the fake provider's own test token)
    template_id: str = "246810"
    failure_text: ClassVar[str] = "Bad Gateway"

    def fail(self, *, status: int | None = None, error: int | None = None, times: int | None = None) -> None:
        self.failures = ScriptedFailures(status=status, error=error, times=times)

    def refusal(self, error: str | int | None, message: str) -> dict[str, Any]:
        return {"error": error, "message": message}

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("access_token") != self.access_token:
            return httpx.Response(200, json=self.refusal(-124, "Access token is invalid"))
        body = json.loads(request.content)
        if body.get("template_id") != self.template_id:
            return httpx.Response(200, json=self.refusal(-1123, "Template is not approved"))
        if not str(body.get("phone", "")).startswith("84"):
            return httpx.Response(200, json=self.refusal(-108, "Phone number is invalid"))
        self.received.append(body)
        return httpx.Response(200, json={"error": 0, "message": "Success",
                                         "data": {"msg_id": uuid.uuid4().hex, "sent_time": "0"}})

"""Complaints fixtures: a fixed clock (`at`) and a driver (`complaints`) for filing, answering and rating over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.notifications.conftest import mail  # noqa: F401  # the real SMTP server, for the answer's message
from tests.reporting.conftest import Clock
from tests.support.identity_fixtures import Actor


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


class Complaints:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def file(self, actor: Actor, dossier_id: str, text: str = "Hồ sơ xử lý chậm, không được báo lý do",
                   *, kind: str = "complaint", headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.client.post(f"/v1/dossiers/{dossier_id}/complaints", json={"kind": kind, "text": text},
                                          headers={**actor.headers, **(headers or {})})
        assert response.status_code == 201, response.text
        body = dict(response.json())
        assert response.headers["location"] == f"/v1/complaints/{body['id']}"
        return body

    async def etag(self, actor: Actor, complaint_id: str) -> str:
        response = await self.client.get(f"/v1/complaints/{complaint_id}", headers=actor.headers)
        assert response.status_code == 200, response.text
        return str(response.headers["etag"])

    async def answer(self, official: Actor, complaint_id: str, text: str = "Đã xác minh, xin lỗi Ông/Bà",
                     etag: str | None = None) -> httpx.Response:
        etag = etag or await self.etag(official, complaint_id)
        return await self.client.post(f"/v1/complaints/{complaint_id}/answer", json={"answer": text},
                                      headers={**official.headers, "If-Match": etag})

    async def answered(self, official: Actor, complaint_id: str) -> dict[str, Any]:
        response = await self.answer(official, complaint_id)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def rate(self, actor: Actor, complaint_id: str, satisfied: bool, *,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/complaints/{complaint_id}/rating", json={"satisfied": satisfied},
                                      headers={**actor.headers, **(headers or {})})


@pytest.fixture
def complaints(client: httpx.AsyncClient) -> Complaints:
    return Complaints(client)

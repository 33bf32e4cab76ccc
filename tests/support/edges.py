"""Helpers of the input-edge tests: a cursor a client forged, and the problem answer expected."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx


def forged_cursor(values: list[Any]) -> str:
    """A cursor the server never issued, in the encoding it uses (app.core.pagination.encode_cursor)."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def expect_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of `response`, which must have `status` and `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body

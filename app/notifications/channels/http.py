"""What the HTTP provider adapters (SMS, Zalo) share: one POST of JSON, errors turned into `ChannelError`."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import httpx

from app.notifications.channels.base import ChannelError
from app.notifications.masking import mask_text


async def post_json(url: str, body: dict[str, Any], *, headers: dict[str, str] | None, timeout_s: float,
                    transport: httpx.AsyncBaseTransport | None, provider: str) -> dict[str, Any]:
    """POST `body`; the JSON answer, or ChannelError for a network error, a non-2xx status or a non-JSON body."""
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as http:
            response = await http.post(url, json=body, headers=headers)
    except httpx.HTTPError as error:
        raise ChannelError(mask_text(f"{provider} unreachable: {type(error).__name__}: {error}")) from None
    if response.status_code >= 300:
        raise ChannelError(mask_text(f"{provider} answered HTTP {response.status_code}: {response.text[:200]}"))
    try:
        answer = response.json()
    except ValueError:
        raise ChannelError(f"{provider} answered a non-JSON body") from None
    if not isinstance(answer, dict):
        raise ChannelError(f"{provider} answered an unexpected JSON value")
    return answer


def international(phone: str) -> str:
    """'0912 345 678' or '+84912345678' -> '84912345678' (what Vietnamese providers expect)."""
    digits = re.sub(r"\D", "", phone)
    return "84" + digits[1:] if digits.startswith("0") else digits


def without_diacritics(text: str) -> str:
    """'Hồ sơ đã được tiếp nhận' -> 'Ho so da duoc tiep nhan' (for brandname SMS sent without Unicode)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")

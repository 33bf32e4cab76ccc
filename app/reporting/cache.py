"""Public reports served from a short in-process cache: the late list is read without a token, by anyone, and
costs several statements (app.reporting.late); DVC_PUBLIC_REPORT_CACHE_S bounds how stale an answer may be."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import get_settings
from app.reporting.late import Window, late_list
from app.reporting.schemas import LateList


class TTLCache:
    """A small in-process cache for public answers (each worker keeps its own; entries live `ttl` seconds)."""

    def __init__(self, max_entries: int = 256) -> None:
        self.entries: dict[Any, tuple[float, Any]] = {}
        self.max_entries = max_entries

    def get(self, key: Any) -> Any | None:
        hit = self.entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            self.entries.pop(key, None)
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        if len(self.entries) >= self.max_entries:
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        self.entries.clear()


public_cache = TTLCache()


async def cached_late_list(session: AsyncSession, window: Window, limit: int, cursor: str | None) -> LateList:
    key = ("late", window, limit, cursor)
    found = public_cache.get(key)
    if found is None:
        found = await late_list(session, window, limit, cursor)
        public_cache.put(key, found, get_settings().public_report_cache_s)
    return found




"""Public reports served from a short in-process cache: the late list is read without a token, by anyone, and
costs several statements (app.reporting.late); DVC_PUBLIC_REPORT_CACHE_S bounds how stale an answer may be.

A period that ended more than `SETTLED` ago is a record: its list is judged from the history written up to its
end, so it changes only when an agency's or official's name does, and rebuilding it replays every dossier open
then (hundreds of ms on a large province: bench/PROFILE.md, session 19). Its answer is kept
DVC_CLOSED_REPORT_CACHE_S instead (an hour by default), each worker its own."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
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
        public_cache.put(key, found, _ttl(window))
    return found


# Entries dated before a period's end and committed after it: a transaction open across midnight.
SETTLED = timedelta(hours=1)


def _ttl(window: Window) -> float:
    settings = get_settings()
    if window.until <= clock.now() - SETTLED:
        return max(settings.public_report_cache_s, settings.closed_report_cache_s)
    return settings.public_report_cache_s

"""Public reports served from a short in-process cache: the late list is read without a token, by anyone, and
costs several statements (app.reporting.late); DVC_PUBLIC_REPORT_CACHE_S bounds how stale an answer may be.

A period that ended more than `SETTLED` ago is a record: its list is judged from the history written up to its
end, so it changes only when an agency's or official's name does, and rebuilding it replays every dossier open
then (hundreds of ms on a large province: bench/PROFILE.md, session 19). Its answer is kept
DVC_CLOSED_REPORT_CACHE_S instead (an hour by default), each worker its own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import get_settings
from app.core.ttlcache import TTLCache
from app.reporting.figures import SETTLED
from app.reporting.late import Window, late_list
from app.reporting.schemas import LateList

public_cache = TTLCache()


async def cached_late_list(session: AsyncSession, window: Window, limit: int, cursor: str | None) -> LateList:
    key = ("late", window, limit, cursor)
    found = public_cache.get(key)
    if found is None:
        found = await late_list(session, window, limit, cursor)
        public_cache.put(key, found, _ttl(window))
    return found


def _ttl(window: Window) -> float:
    settings = get_settings()
    if window.until <= clock.now() - SETTLED:
        return max(settings.public_report_cache_s, settings.closed_report_cache_s)
    return settings.public_report_cache_s

"""A per-client-address sliding-window rate limiter for public, unauthenticated routes.

In-process: with several workers (or replicas) each keeps its own window, so the effective limit is the
configured one per worker. That is enough to make enumerating sequential public codes slow; a shared limit
belongs in the reverse proxy.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request

from app.core.problems import ProblemError
from app.core.settings import get_settings

WINDOW_S = 60.0
MAX_TRACKED = 100_000  # addresses kept; the oldest are dropped beyond this, bounding memory


class SlidingWindowLimiter:
    def __init__(self, limit_per_window: Callable[[], int], window_s: float = WINDOW_S,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.limit_per_window = limit_per_window
        self.window_s = window_s
        self.now = now
        self.hits: dict[str, deque[float]] = {}

    def check(self, key: str) -> float | None:
        """Record a hit; None when allowed, else the seconds until the next hit would be allowed."""
        limit = self.limit_per_window()
        if limit <= 0:
            return None
        now = self.now()
        hits = self.hits.get(key)
        if hits is None:
            if len(self.hits) >= MAX_TRACKED:
                self.hits.pop(next(iter(self.hits)))
            hits = self.hits[key] = deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(hits[0] + self.window_s - now, 0.0)
        hits.append(now)
        return None

    def reset(self) -> None:
        self.hits.clear()


def per_minute_limiter(setting: Callable[[], int]) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(setting, WINDOW_S)


public_limiter = per_minute_limiter(lambda: get_settings().public_rate_limit_per_min)


def rate_limited(limiter: SlidingWindowLimiter) -> Any:
    """A dependency answering 429 `rate_limited` with `Retry-After` once the caller's address is over its limit."""

    async def limit_by_address(request: Request) -> None:
        address = request.client.host if request.client else "unknown"
        wait = limiter.check(address)
        if wait is not None:
            raise ProblemError("rate_limited", "Too many requests from your address; try again later.",
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})

    return Depends(limit_by_address)

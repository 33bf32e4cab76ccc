"""Per-client-address rate limits for public, unauthenticated routes, one limit for every worker and replica.

The counts live in the database (`rate_limit_windows`), so two uvicorn workers, or several replicas behind one
load balancer, enforce one limit per address, as `DVC_PUBLIC_RATE_LIMIT_PER_MIN` promises (kept in process, the
limit was multiplied by the number of workers). The estimate is the usual sliding window over two fixed
one-minute windows: this window's count plus the previous window's, weighted by the part of it that still lies
within the last minute. One statement per request (an UPSERT returning this window's count and the previous
one's; on PostgreSQL autocommit through app.core.direct's pool).
Every request counts, refused ones too, so a client that keeps hammering stays refused. Windows older than the
previous one are deleted by whichever process gets there first, at most once a minute per process.

The client address is the connecting peer's or, when the peer is a trusted proxy (`DVC_FORWARDED_ALLOW_IPS`),
the address it forwarded in `X-Forwarded-For` (app.main installs uvicorn's proxy-headers middleware). Behind a
proxy that is not trusted, every citizen would share the proxy's one limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import BigInteger, Integer, String, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base
from app.core.direct import DirectStatement, autocommit_writes
from app.core.problems import ProblemError
from app.core.settings import get_settings

WINDOW_S = 60
PRUNE_EVERY_S = 60.0
KEY_ADDRESS_CHARS = 64  # an IPv6 address with a zone id fits


class RateLimitWindow(Base):
    """Requests counted per limit, client address and fixed window (window = seconds since the epoch // 60)."""

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(Integer)


def estimate(previous: int, current: int, elapsed_s: float, window_s: float = WINDOW_S) -> float:
    """Requests in the last `window_s` seconds, assuming the previous window's were spread evenly."""
    return previous * (1 - elapsed_s / window_s) + current


def wait_after_refusal(previous: int, current: int, elapsed_s: float, limit: int,
                       window_s: float = WINDOW_S) -> float:
    """Seconds until one more request would fit under `limit`, if the client sends nothing meanwhile."""
    if current + 1 <= limit and previous > 0:  # this window has room once enough of the previous one ages out
        return max(window_s * (1 - (limit - current - 1) / previous) - elapsed_s, 0.0)
    # Next window: this window's count becomes the previous one, ageing out as that window goes by.
    until_next = window_s - elapsed_s
    return until_next + (max(window_s * (1 - (limit - 1) / current), 0.0) if current else 0.0)


def _count_statement(dialect: Any) -> Any:
    """Count one request in its window and return that count with the previous window's (NULL if none)."""
    row = RateLimitWindow
    previous = select(row.hits).where(row.key == bindparam("key"), row.window == bindparam("previous"))
    return (dialect.insert(row).values(key=bindparam("key"), window=bindparam("window"), hits=1)
            .on_conflict_do_update(index_elements=["key", "window"], set_={"hits": row.hits + 1})
            .returning(row.hits, previous.scalar_subquery().label("previous_hits")))


_COUNT = DirectStatement(_count_statement(postgresql), sqlite=_count_statement(sqlite))
_PRUNE = DirectStatement(delete(RateLimitWindow).where(RateLimitWindow.window < bindparam("before")))


class RateLimit:
    """A named per-address limit of requests per minute (the limit read from settings at each request)."""

    def __init__(self, name: str, limit_per_minute: Callable[[], int]) -> None:
        self.name = name
        self.limit_per_minute = limit_per_minute
        self._pruned_at = -math.inf

    async def check(self, address: str) -> float | None:
        """Count one request from `address`; None when allowed, else the seconds to wait (for `Retry-After`)."""
        limit = self.limit_per_minute()
        if limit <= 0:
            return None
        now = clock.now().timestamp()
        window = int(now // WINDOW_S)
        elapsed = now - window * WINDOW_S
        key = f"{self.name}:{address[:KEY_ADDRESS_CHARS]}"  # a proxy may forward anything: keep the key bounded
        async with autocommit_writes() as writer:
            row = await writer.fetchrow(_COUNT, key=key, window=window, previous=window - 1)
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                await writer.execute(_PRUNE, before=window - 1)
        assert row is not None  # an UPSERT ... RETURNING always returns its row
        current, previous = row["hits"], row["previous_hits"] or 0
        if estimate(previous, current, elapsed) <= limit:
            return None
        return wait_after_refusal(previous, current, elapsed, limit)


public_limiter = RateLimit("public", lambda: get_settings().public_rate_limit_per_min)


def rate_limited(limiter: RateLimit) -> Any:
    """A dependency answering 429 `rate_limited` with `Retry-After` once the caller's address is over its limit
    (no connection taken while the limit is off)."""

    async def limit_by_address(request: Request) -> None:
        await enforce(limiter, request)

    return Depends(limit_by_address)


async def enforce(limiter: RateLimit, request: Request) -> None:
    """429 `rate_limited` with `Retry-After` once the caller's address is over `limiter`'s limit: what the
    dependency does, for a hot route to call itself (a sub-dependency costs FastAPI a second solving pass)."""
    wait = await limiter.check(_address(request))
    if wait is not None:
        raise ProblemError("rate_limited", "Too many requests from your address; try again later.",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"

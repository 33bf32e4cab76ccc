"""The public routes' per-address rate limit: counted in the database (one limit for every worker and replica),
keyed by the address a trusted proxy forwards, a sliding estimate over two one-minute windows."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, insert, select

from app.core import clock, ratelimit
from app.core.db import get_database
from app.core.ratelimit import RateLimitWindow, estimate, wait_after_refusal

URL = "/v1/public/dossiers/none-000000-0001"  # an unknown code: 404 while allowed, 429 once limited
MOMENT = datetime(2026, 3, 2, 9, 0, 20, tzinfo=UTC)  # 20 s into its minute
WINDOW = int(MOMENT.timestamp()) // 60


@pytest.fixture
def limit_of_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit.public_limiter, "limit_per_minute", lambda: 3)
    monkeypatch.setattr(clock, "now", lambda: MOMENT)


async def _statuses(client: httpx.AsyncClient, count: int, **headers: str) -> list[int]:
    return [(await client.get(URL, headers=headers)).status_code for _ in range(count)]


def test_the_estimate_weighs_the_previous_window_by_what_remains_of_it() -> None:
    assert estimate(0, 3, 10) == 3
    assert estimate(10, 2, 30) == pytest.approx(7)
    assert estimate(10, 2, 0) == pytest.approx(12)


def test_the_wait_is_until_one_more_request_fits() -> None:
    # Room in this window once enough of the previous one ages out: 10 x (18/60) + 1 + 1 = 5 at second 42.
    assert wait_after_refusal(previous=10, current=1, elapsed_s=30, limit=5) == pytest.approx(12)
    # This window is full: 40 s to the next one, where 4 x (1 - t/60) + 1 <= 3 from t = 30 s.
    assert wait_after_refusal(previous=0, current=4, elapsed_s=20, limit=3) == pytest.approx(70)


async def test_public_tracking_is_refused_over_the_limit(client: httpx.AsyncClient, limit_of_three: None) -> None:
    assert await _statuses(client, 4) == [404, 404, 404, 429]
    limited = await client.get(URL)
    assert limited.json()["code"] == "rate_limited"
    assert limited.headers["content-type"].startswith("application/problem+json")
    # Refused requests count too (5 this minute): 40 s to the next minute, then 5 x (1 - t/60) + 1 <= 3 at 36 s.
    assert int(limited.headers["retry-after"]) == 76


async def test_the_public_reports_share_the_limit(client: httpx.AsyncClient, limit_of_three: None) -> None:
    """The late list counts on its own connection (it reads through a session), against the same limit."""
    assert await _statuses(client, 2) == [404, 404]
    late = [(await client.get("/v1/public/late-dossiers")).status_code for _ in range(2)]
    assert late == [200, 429]


async def test_counts_are_shared_with_other_workers(client: httpx.AsyncClient, limit_of_three: None) -> None:
    """Another worker or replica counted this address's requests: they count here too (no per-process count)."""
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(insert(RateLimitWindow).values(key="public:127.0.0.1", window=WINDOW, hits=3))
    assert await _statuses(client, 1) == [429]


async def test_the_previous_minute_still_counts_in_part(client: httpx.AsyncClient, limit_of_three: None) -> None:
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(insert(RateLimitWindow).values(key="public:127.0.0.1", window=WINDOW - 1, hits=3))
    # 20 s into this minute, 2/3 of the previous one's 3 requests still count: 2 + 1 fits, 2 + 2 does not.
    assert await _statuses(client, 2) == [404, 429]


async def test_each_forwarded_address_has_its_own_limit(client: httpx.AsyncClient, limit_of_three: None) -> None:
    """The test client connects from 127.0.0.1, the default trusted proxy: its X-Forwarded-For is believed."""
    assert await _statuses(client, 4, **{"X-Forwarded-For": "203.0.113.1"}) == [404, 404, 404, 429]
    assert await _statuses(client, 1, **{"X-Forwarded-For": "203.0.113.2"}) == [404]
    assert await _statuses(client, 1, **{"X-Forwarded-For": "198.51.100.4, 203.0.113.1"}) == [429]


async def test_a_forwarded_address_of_any_length_is_counted(client: httpx.AsyncClient, limit_of_three: None) -> None:
    """What a trusted proxy forwards is not checked, so a long value must still make a bounded key."""
    assert await _statuses(client, 4, **{"X-Forwarded-For": "x" * 300}) == [404, 404, 404, 429]


async def test_an_untrusted_peer_cannot_pick_its_address(app: object, limit_of_three: None) -> None:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        statuses = [(await client.get(URL, headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
                    for n in range(4)]
    assert statuses == [404, 404, 404, 429]


async def test_old_windows_are_pruned(client: httpx.AsyncClient, limit_of_three: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(insert(RateLimitWindow).values(key="public:192.0.2.1", window=WINDOW - 2, hits=9))
        await session.execute(insert(RateLimitWindow).values(key="public:192.0.2.2", window=WINDOW - 1, hits=9))
    monkeypatch.setattr(ratelimit.public_limiter, "_pruned_at", float("-inf"))
    assert await _statuses(client, 1) == [404]
    async with get_database().read_sessions() as session:
        windows = (await session.execute(select(RateLimitWindow.key, RateLimitWindow.window)
                                         .order_by(RateLimitWindow.key))).all()
    assert windows == [("public:127.0.0.1", WINDOW), ("public:192.0.2.2", WINDOW - 1)]


async def test_zero_turns_the_limit_off(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit.public_limiter, "limit_per_minute", lambda: 0)
    assert set(await _statuses(client, 5)) == {404}
    async with get_database().read_sessions() as session:
        assert (await session.execute(select(func.count()).select_from(RateLimitWindow))).scalar_one() == 0

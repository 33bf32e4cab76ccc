"""The public late list is cached per worker: briefly while its period runs (DVC_PUBLIC_REPORT_CACHE_S), longer
once the period ended over an hour ago (DVC_CLOSED_REPORT_CACHE_S), when it is a record judged from history up to
its end and rebuilding it replays every dossier open then."""

from __future__ import annotations

from typing import Any

import pytest

from app.reporting import cache

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The windows the late list was computed for (each a cache miss)."""
    calls: list[Any] = []
    original = cache.late_list

    async def counting(session: Any, window: Any, limit: int, cursor: str | None) -> Any:
        calls.append(window)
        return await original(session, window, limit, cursor)

    monkeypatch.setattr(cache, "late_list", counting)
    return calls


async def _read(client: Any, period: dict[str, str]) -> None:
    response = await client.get("/v1/public/late-dossiers", params=period)
    assert response.status_code == 200, response.text


async def test_a_settled_period_is_kept_and_a_running_one_is_not(client, at, settings_env, computed):
    settings_env(DVC_PUBLIC_REPORT_CACHE_S="0", DVC_CLOSED_REPORT_CACHE_S="3600")
    at.set(2025, 4, 1, 0, 30)  # March ended half an hour ago: entries of March may still be committing
    await _read(client, MARCH)
    await _read(client, MARCH)
    assert len(computed) == 2
    at.set(2025, 4, 1, 1, 30)
    await _read(client, MARCH)
    await _read(client, MARCH)
    assert len(computed) == 3  # settled: computed once, then served from the cache
    await _read(client, {"from": "2025-04-01", "to": "2025-04-30"})
    await _read(client, {"from": "2025-04-01", "to": "2025-04-30"})
    assert len(computed) == 5  # April runs: the short cache (off here) applies


async def test_the_longer_cache_can_be_turned_off(client, at, settings_env, computed):
    settings_env(DVC_PUBLIC_REPORT_CACHE_S="0", DVC_CLOSED_REPORT_CACHE_S="0")
    at.set(2025, 5, 10, 9, 0)
    await _read(client, MARCH)
    await _read(client, MARCH)
    assert len(computed) == 2

"""The public late list is cached per worker: briefly while its period runs (DVC_PUBLIC_REPORT_CACHE_S), longer
once the period ended over an hour ago (DVC_CLOSED_REPORT_CACHE_S), when it is a record judged from history up to
its end and rebuilding it replays every dossier open then."""

from __future__ import annotations

from typing import Any

import pytest

from app.reporting import cache

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def _misses(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """The second argument of every call to `module.name` (each a cache miss: the work the cache saves)."""
    calls: list[Any] = []
    original = getattr(module, name)

    async def counting(session: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(key)
        return await original(session, key, *args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The windows the late list was computed for."""
    return _misses(monkeypatch, cache, "late_list")


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


@pytest.fixture
def rebuilt(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The moments a report rebuilt the open dossiers' count from history."""
    from app.reporting import figures

    return _misses(monkeypatch, figures, "open_counts_at")


async def _indicators(client: Any, admin: Any, **params: str) -> None:
    response = await client.get("/v1/reports/indicators", params={**MARCH, **params}, headers=admin.headers)
    assert response.status_code == 200, response.text


async def test_a_settled_days_rebuilt_open_count_is_kept_per_scope(client, at, accounts, flow, settings_env,
                                                                     rebuilt):
    """No worker counted the end of March: a report rebuilds it from history. Settled, the count is kept (per scope:
    an agency's report does not read the province's), not rebuilt on every read."""
    settings_env(DVC_CLOSED_REPORT_CACHE_S="3600")
    admin = await accounts.admin()
    at.set(2025, 3, 3, 9, 0)
    procedure = await flow.procedure(processing_days=3)
    at.set(2025, 4, 1, 0, 30)  # within the hour after March ended
    await _indicators(client, admin)
    await _indicators(client, admin)
    assert len(rebuilt) == 2
    at.set(2025, 5, 10, 9, 0)
    await _indicators(client, admin)
    await _indicators(client, admin)
    await _indicators(client, admin, group_by="agency")  # the same count, grouped differently
    assert len(rebuilt) == 3
    await _indicators(client, admin, procedure=procedure)
    assert len(rebuilt) == 4
    settings_env(DVC_CLOSED_REPORT_CACHE_S="0")
    from app.reporting.figures import rebuilt_days

    rebuilt_days.clear()
    await _indicators(client, admin)
    await _indicators(client, admin)
    assert len(rebuilt) == 6

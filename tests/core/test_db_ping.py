"""The pool's liveness check (app/core/db.py): a connection idle past `database_ping_after_idle_s` is checked
with one simple statement and, when the server has dropped it, replaced before a request uses it; one returned
moments ago is handed out without a round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from app.core.db import build_engine
from app.core.settings import Settings, get_settings


def _one_connection_engine(ping_after_idle_s: float = 0.0) -> tuple[Settings, AsyncEngine]:
    settings = get_settings()
    if settings.is_sqlite:
        pytest.skip("the pooled-connection check only exists on PostgreSQL")
    return settings, build_engine(settings.model_copy(update={
        "database_pool_size": 1, "database_max_overflow": 0, "database_ping_after_idle_s": ping_after_idle_s}))


@pytest.mark.usefixtures("database_url")
async def test_a_connection_killed_by_the_server_is_replaced_before_use() -> None:
    settings, engine = _one_connection_engine(ping_after_idle_s=0.05)
    try:
        async with engine.connect() as connection:
            first = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        other = build_engine(settings)
        try:
            async with other.connect() as admin:
                assert (await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})).scalar_one()
        finally:
            await other.dispose()
        await asyncio.sleep(0.1)  # idle past the window
        # The pooled connection is dead; the check sees it and the pool opens a new one for this checkout.
        async with engine.connect() as connection:
            second = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            assert (await connection.execute(text("SELECT 41 + 1"))).scalar_one() == 42
        assert second != first
    finally:
        await engine.dispose()


async def _statements_of_one_checkout(engine: AsyncEngine, idle_s: float) -> list[str]:
    fairy: Any = await greenlet_spawn(engine.sync_engine.pool.connect)
    adapted = fairy.dbapi_connection
    fairy.close()
    sent: list[str] = []
    adapted._connection = _Recording(adapted._connection, sent)  # asyncpg's Connection has slots
    await asyncio.sleep(idle_s)
    fairy = await greenlet_spawn(engine.sync_engine.pool.connect)  # the checkout runs the check, if due
    fairy.close()
    adapted._connection = adapted._connection._wrapped
    return sent


@pytest.mark.usefixtures("database_url")
async def test_an_idle_connection_is_checked_with_one_simple_statement() -> None:
    _, engine = _one_connection_engine(ping_after_idle_s=0.05)
    try:
        assert await _statements_of_one_checkout(engine, idle_s=0.1) == ["SELECT 1"]
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("database_url")
async def test_a_connection_returned_moments_ago_is_not_checked() -> None:
    _, engine = _one_connection_engine(ping_after_idle_s=60)
    try:
        assert await _statements_of_one_checkout(engine, idle_s=0) == []
    finally:
        await engine.dispose()


class _Recording:
    """Stands in for the pooled asyncpg connection and records the SQL of every call that sends some."""

    def __init__(self, connection: Any, sent: list[str]) -> None:
        self._wrapped, self._sent = connection, sent

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._wrapped, name)
        if name not in ("execute", "fetch", "fetchrow", "fetchval", "prepare"):
            return attribute

        def recorded(query: str, *args: Any, **kwargs: Any) -> Any:
            self._sent.append(query)
            return attribute(query, *args, **kwargs)

        return recorded

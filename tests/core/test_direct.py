"""app.core.direct: Core statements compiled once for asyncpg, run on a plain asyncpg pool on PostgreSQL and
through the engine on SQLite, with the same rows either way."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.core.db import DirectPool, build_engine
from app.core.direct import DirectStatement, autocommit_writes, direct_connection, direct_transaction
from app.core.problems import ProblemError
from app.core.ratelimit import RateLimitWindow
from app.core.settings import get_settings
from app.identity.models import Account, Identity


def _upsert(dialect: type[postgresql.Insert] | type[sqlite.Insert]) -> postgresql.Insert | sqlite.Insert:
    insert = dialect(RateLimitWindow).values(key=bindparam("key"), window=bindparam("window"), hits=1)
    return (insert.on_conflict_do_update(index_elements=["key", "window"], set_={"hits": RateLimitWindow.hits + 1})
            .returning(RateLimitWindow.hits))


UPSERT = DirectStatement(_upsert(postgresql.Insert), sqlite=_upsert(sqlite.Insert))


def test_statements_compile_to_numbered_placeholders_with_their_fixed_values() -> None:
    statement = DirectStatement(select(RateLimitWindow.hits).where(
        RateLimitWindow.key == bindparam("key"), RateLimitWindow.window >= bindparam("window"),
        RateLimitWindow.window < bindparam("window") + 10))
    # A name used twice is one placeholder; the literal 10 is a parameter too, with its value kept.
    assert statement.sql.count("$2") == 2 and "$3" in statement.sql and "$4" not in statement.sql
    assert statement.arguments({"window": 7, "key": "k"}) == ["k", 7, 10]
    # A value written into the statement travels with it; a parameter nobody gave is an error, never NULL.
    assert UPSERT.arguments({"key": "k", "window": 3}) == ["k", 3, 1, 1]
    with pytest.raises(KeyError):
        UPSERT.arguments({"key": "k"})


@pytest.mark.usefixtures("database_url")
async def test_lists_of_constants_are_expanded_once_and_many_rows_are_fetched() -> None:
    statement = DirectStatement(select(RateLimitWindow.window).where(
        RateLimitWindow.key == bindparam("key"), RateLimitWindow.window.in_((1, 3)))
        .order_by(RateLimitWindow.window.desc()).limit(bindparam("limit")))
    assert "POSTCOMPILE" not in statement.sql and statement.arguments({"key": "k", "limit": 5}) == ["k", 5, 1, 3]
    async with autocommit_writes() as writer:
        for window in (1, 2, 3):
            await writer.fetchrow(UPSERT, key="many", window=window)
    async with direct_connection() as reader:
        rows = await reader.fetch(statement, key="many", limit=5)
        none = await reader.fetch(statement, key="nobody", limit=5)
    assert [row["window"] for row in rows] == [3, 1] and none == []
    async with autocommit_writes() as writer:
        await writer.execute(DirectStatement(delete(RateLimitWindow).where(RateLimitWindow.key == bindparam("key"))),
                             key="many")


@pytest.mark.usefixtures("database_url")
async def test_a_direct_transaction_commits_at_its_end_and_keeps_nothing_when_it_raises() -> None:
    windows = DirectStatement(select(RateLimitWindow.window).where(RateLimitWindow.key == bindparam("key"))
                              .order_by(RateLimitWindow.window))
    with pytest.raises(RuntimeError):
        async with direct_transaction() as writer:
            await writer.fetchrow(UPSERT, key="tx", window=1)
            raise RuntimeError("the request failed after its first write")
    async with direct_transaction() as writer:
        await writer.fetchrow(UPSERT, key="tx", window=2)
        await writer.fetchrow(UPSERT, key="tx", window=3)
    async with direct_connection() as reader:
        assert [row["window"] for row in await reader.fetch(windows, key="tx")] == [2, 3]
    async with autocommit_writes() as writer:
        await writer.execute(DirectStatement(delete(RateLimitWindow).where(RateLimitWindow.key == bindparam("key"))),
                             key="tx")


@pytest.mark.usefixtures("database_url")
async def test_writes_commit_on_their_own_and_rows_read_by_column_name() -> None:
    async with autocommit_writes() as writer:
        first = await writer.fetchrow(UPSERT, key="direct", window=1)
        second = await writer.fetchrow(UPSERT, key="direct", window=1)
    assert first is not None and second is not None
    assert (first["hits"], second["hits"]) == (1, 2)
    async with direct_connection() as reader:  # another connection sees both counts: committed
        row = await reader.fetchrow(DirectStatement(select(RateLimitWindow.hits, RateLimitWindow.window).where(
            RateLimitWindow.key == bindparam("key"))), key="direct")
        missing = await reader.fetchrow(DirectStatement(select(RateLimitWindow.hits).where(
            RateLimitWindow.key == bindparam("key"))), key="nobody")
    assert row is not None and dict(row) == {"hits": 2, "window": 1}
    assert missing is None
    async with autocommit_writes() as writer:
        await writer.execute(DirectStatement(delete(RateLimitWindow).where(RateLimitWindow.key == bindparam("key"))),
                             key="direct")


@pytest.mark.usefixtures("database_url")
async def test_json_and_uuid_columns_come_back_as_the_engine_returns_them() -> None:
    """The gate reads roles (JSON) and ids (UUID) this way: a JSON list must not arrive as its text."""
    database_settings = get_settings()
    engine = build_engine(database_settings)
    account_id = uuid.uuid4()
    try:
        async with engine.begin() as connection:
            await connection.execute(Account.__table__.insert().values(
                id=account_id, kind="citizen", status="active", name="Direct", citizen_id="001099000777",
                roles=["reception", "processing"], scopes=[], agency_codes=[]))
            await connection.execute(Identity.__table__.insert().values(
                id=uuid.uuid4(), account_id=account_id, issuer="https://direct.test", subject="s-1"))
    finally:
        await engine.dispose()
    async with direct_connection() as reader:
        row = await reader.fetchrow(DirectStatement(
            select(Account.id, Account.roles, Account.kind).join(Identity, Identity.account_id == Account.id)
            .where(Identity.subject == bindparam("subject"))), subject="s-1")
    assert row is not None
    assert row["roles"] == ["reception", "processing"]
    assert row["id"] == account_id and isinstance(row["id"], uuid.UUID)
    assert row["kind"] == "citizen"


@pytest.mark.usefixtures("database_url")
async def test_a_direct_connection_killed_by_the_server_is_replaced_before_use() -> None:
    settings = get_settings()
    if settings.is_sqlite:
        pytest.skip("the direct pool only exists on PostgreSQL")
    pool = DirectPool(settings.model_copy(update={"database_direct_pool_size": 1,
                                                  "database_ping_after_idle_s": 0.05}))
    try:
        async with pool.acquire() as connection:
            first = await connection.fetchval("SELECT pg_backend_pid()")
        engine = build_engine(settings)
        try:
            async with engine.connect() as admin:
                assert (await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})).scalar_one()
        finally:
            await engine.dispose()
        await asyncio.sleep(0.1)  # idle past the window: checked, found dead, replaced
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") != first
            assert await connection.fetchval("SELECT 41 + 1") == 42
    finally:
        await pool.close()


@pytest.mark.usefixtures("database_url")
async def test_a_connection_lost_under_a_statement_is_a_retryable_503_and_the_pool_recovers() -> None:
    settings = get_settings()
    if settings.is_sqlite:
        pytest.skip("the direct pool only exists on PostgreSQL")
    pool = DirectPool(settings.model_copy(update={"database_direct_pool_size": 1}))
    try:
        with pytest.raises(ProblemError) as lost:
            async with pool.acquire() as connection:  # the server drops it mid-statement (as in a restart)
                pid = await connection.fetchval("SELECT pg_backend_pid()")
                await connection.fetchval("SELECT pg_terminate_backend(pg_backend_pid())")
        assert lost.value.code == "database_unavailable" and lost.value.headers == {"Retry-After": "1"}
        async with pool.acquire() as connection:  # the retry gets a new connection
            assert await connection.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await pool.close()


@pytest.mark.usefixtures("database_url")
async def test_requests_beyond_the_pool_wait_their_turn_and_the_pool_reports_them() -> None:
    settings = get_settings()
    if settings.is_sqlite:
        pytest.skip("the direct pool only exists on PostgreSQL")
    pool = DirectPool(settings.model_copy(update={"database_direct_pool_size": 1}))
    served: list[int] = []

    async def request(n: int) -> None:
        async with pool.acquire() as connection:
            served.append(n)
            await connection.fetchval("SELECT 1")

    try:
        async with pool.acquire():
            waiting = [asyncio.create_task(request(n)) for n in range(3)]
            await asyncio.sleep(0.05)
            assert (pool.in_use, pool.waiting, pool.open_connections) == (1, 3, 1)  # the /metrics gauges
        await asyncio.gather(*waiting)
        assert served == [0, 1, 2]  # in order of arrival
        assert (pool.in_use, pool.waiting) == (0, 0)
    finally:
        await pool.close()

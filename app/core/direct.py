"""The hottest single statements straight on the driver: asyncpg on PostgreSQL, SQLAlchemy's engine on SQLite.

Under concurrent load SQLAlchemy's async engine costs far more CPU than a sequential A/B shows: checking a
connection out and back in through the greenlet bridge, and the statement and result layers around one short
query (bench/PROFILE.md, session 5: public tracking went from 0.30 to 0.49 of the bare read anchor on a plain
asyncpg pool, and the checkout alone was most of it). The statements every request pays for (the identity
gate's account lookup), the most requested public route (tracking, with its rate-limit count) and the
officials' work queue (the dossier list: one statement per filter shape, rows read without the ORM) therefore
run through a small asyncpg pool of their own on PostgreSQL.

They are still written once, with SQLAlchemy Core, and compiled once for asyncpg: one source of SQL for both
databases. Parameters and results pass to the driver as they are, without SQLAlchemy's type processing, so
keep to plain columns (text, numbers, timestamps with time zone, UUIDs, JSON); rows are read by column name.
`direct_connection` and `autocommit_writes` run each statement on its own (autocommit): for lookups and counts
that stand alone. `direct_transaction` gives one transaction, for a write that needs no ORM (a new draft and
its idempotent answer). On SQLite the same calls go through the engine as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Select
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from app.core.db import ConnectionLease, Database, get_database

_ASYNCPG = asyncpg_dialect.dialect()
Statement = Select[*tuple[Any, ...]] | UpdateBase


class DirectStatement:
    """A Core statement compiled once for asyncpg (`$n` placeholders); `sqlite` for a dialect-specific variant."""

    def __init__(self, statement: Statement, *, sqlite: Statement | None = None) -> None:
        self.statement = statement
        self.sqlite_statement = sqlite if sqlite is not None else statement
        compiled = statement.compile(dialect=_ASYNCPG)
        required = [name for name, bind in compiled.binds.items() if bind.required]
        # Lists of constants (`state IN ('a', 'b')`) become one placeholder per value now, with their values;
        # a list given when the statement runs cannot be expanded here (on PostgreSQL, pass an array).
        expanded = compiled.construct_expanded_state(dict.fromkeys(required))
        self.sql = expanded.statement
        self._names = tuple(expanded.positiontup or ())
        # Values written into the statement itself (`values(hits=1)`); every other parameter must be given.
        self._fixed = {name: value for name, value in expanded.parameters.items() if name not in required}

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self._fixed[name] for name in self._names]


class DirectConnection(Protocol):
    async def fetchrow(self, statement: DirectStatement, **params: Any) -> Mapping[str, Any] | None: ...

    async def fetch(self, statement: DirectStatement, **params: Any) -> list[Mapping[str, Any]]: ...

    async def execute(self, statement: DirectStatement, **params: Any) -> None: ...


class _DriverConnection:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetchrow(self, statement: DirectStatement, **params: Any) -> Mapping[str, Any] | None:
        row: Mapping[str, Any] | None = await self._connection.fetchrow(statement.sql,
                                                                        *statement.arguments(params))
        return row

    async def fetch(self, statement: DirectStatement, **params: Any) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = await self._connection.fetch(statement.sql, *statement.arguments(params))
        return rows

    async def execute(self, statement: DirectStatement, **params: Any) -> None:
        await self._connection.execute(statement.sql, *statement.arguments(params))


class _EngineConnection:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def fetchrow(self, statement: DirectStatement, **params: Any) -> Mapping[str, Any] | None:
        result = await self._connection.execute(statement.sqlite_statement, params)
        return cast(Mapping[str, Any] | None, result.mappings().one_or_none())

    async def fetch(self, statement: DirectStatement, **params: Any) -> list[Mapping[str, Any]]:
        result = await self._connection.execute(statement.sqlite_statement, params)
        return cast(list[Mapping[str, Any]], list(result.mappings().all()))

    async def execute(self, statement: DirectStatement, **params: Any) -> None:
        await self._connection.execute(statement.sqlite_statement, params)


def direct_connection() -> AbstractAsyncContextManager[DirectConnection]:
    """A connection for standalone reads, each statement its own (PostgreSQL: the direct pool, autocommit;
    SQLite: an engine of its own that runs each statement outside a transaction)."""
    database = get_database()
    if database.direct_pool is not None:
        return _DriverLease(database.direct_pool)
    return _sqlite_reads(database)


class _DriverLease(ConnectionLease):
    """The direct pool's lease, its connection handed out as a DirectConnection."""

    __slots__ = ()

    async def __aenter__(self) -> DirectConnection:
        return _DriverConnection(await super().__aenter__())


@asynccontextmanager
async def _sqlite_reads(database: Database) -> AsyncIterator[DirectConnection]:
    assert database.direct_reads is not None  # SQLite
    async with database.direct_reads.connect() as engine_connection:
        yield _EngineConnection(engine_connection)


@asynccontextmanager
async def autocommit_writes() -> AsyncIterator[DirectConnection]:
    """A connection for small writes that stand alone, outside any request transaction (rate-limit counts,
    idempotency claims, a draft without an idempotency key: one INSERT): on PostgreSQL each statement commits on
    its own; SQLite runs them in one immediate transaction committed at the end."""
    database = get_database()
    if database.direct_pool is None:
        async with database.write_engine.begin() as engine_connection:
            yield _EngineConnection(engine_connection)
    else:
        async with database.direct_pool.acquire() as driver_connection:
            yield _DriverConnection(driver_connection)


@asynccontextmanager
async def direct_transaction() -> AsyncIterator[DirectConnection]:
    """One transaction for a short write that needs no ORM (creating a draft): committed when the block ends,
    rolled back if it raises. PostgreSQL: on the direct pool; SQLite: on the write engine (BEGIN IMMEDIATE)."""
    database = get_database()
    if database.direct_pool is None:
        async with database.write_engine.begin() as engine_connection:
            yield _EngineConnection(engine_connection)
    else:
        async with database.direct_pool.acquire() as driver_connection, driver_connection.transaction():
            yield _DriverConnection(driver_connection)

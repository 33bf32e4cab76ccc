"""Database: the declarative base, engines for both databases, and one transaction per request.

SQLite is the embedded default (WAL, foreign keys, busy timeout; write transactions start with
`BEGIN IMMEDIATE` so concurrent writers queue instead of failing on upgrade). PostgreSQL is production.
Reads go through a separate SQLite engine with plain deferred transactions, so readers never queue behind
writers; on PostgreSQL both names share one engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar

import asyncpg
from fastapi import Depends
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Uuid, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from app.core.problems import database_unavailable, value_refused
from app.core.settings import Settings, get_settings

log = logging.getLogger("app.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite forgets the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # asyncpg already returns timestamptz as aware UTC datetimes: no per-value call on PostgreSQL (a page of
        # the dossier list reads ~150 of them).
        return None if dialect.driver == "asyncpg" else super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants 64 bits for event logs.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        uuid.UUID: Uuid(),
    }


def field_reader(source: Any) -> Callable[[str], Any]:
    """Read fields by name from an ORM object or from a row read without the ORM (app.core.direct: rows are
    mappings), so that code serving both needs no second copy."""
    return partial(getattr, source) if isinstance(source, Base) else source.__getitem__


def _sqlite_pragmas(settings: Settings, begin: str | None) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def on_begin(connection: Any) -> None:
        if begin is not None:
            connection.exec_driver_sql(begin)

    return on_connect, on_begin


def build_engine(settings: Settings, *, immediate: bool = True, single_statements: bool = False) -> AsyncEngine:
    """`single_statements` (SQLite): an engine whose connections run one statement each, outside any transaction
    (one SELECT is its own consistent read in SQLite's autocommit mode): no BEGIN, and no ROLLBACK on return."""
    if settings.is_sqlite:
        engine = create_async_engine(settings.database_url,
                                     connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
                                     pool_reset_on_return=None if single_statements else "rollback")
        begin = None if single_statements else "BEGIN IMMEDIATE" if immediate else "BEGIN"
        on_connect, on_begin = _sqlite_pragmas(settings, begin)
        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", on_begin)
        return engine
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_recycle=1800,
    )
    _check_idle_connections(engine, settings.database_ping_after_idle_s)
    return engine


def _check_idle_connections(engine: AsyncEngine, idle_s: float) -> None:
    """Check a pooled connection with one simple-protocol `SELECT 1` before use, unless it was in use moments ago.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and on asyncpg as `BEGIN; <prepared ;>; ROLLBACK`:
    with two or three checkouts per authenticated request that was a third of its round trips. Like
    HikariCP's alive-bypass window, a connection returned to the pool less than `idle_s` ago is handed out
    unchecked (under load, always); one idle longer (after a quiet spell, a database restart, a network cut)
    is checked, and a dead one is discarded and replaced before the request sees it (the pool retries the
    checkout on `DisconnectionError`). A connection that dies inside the window fails its request once; the
    pool then discards every connection opened before the failure. `SELECT 1` prepares nothing, so it is
    also safe behind pgbouncer.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_s:
            return  # opened for this checkout, or in use moments ago
        try:
            if engine.dialect.driver == "asyncpg":
                await_(dbapi_connection._connection.execute("SELECT 1"))
            else:
                cursor = dbapi_connection.cursor()
                cursor.execute("SELECT 1")
                cursor.close()
        except Exception as error:
            record.info.pop("returned_at", None)
            raise DisconnectionError(f"pooled connection is dead: {error!r}") from error


def sqlite_file_missing(settings: Settings) -> bool:
    """The embedded database's file does not exist (connecting would create it, empty). False for PostgreSQL,
    for an in-memory database and for a `file:` URI, where the driver alone knows what it opens."""
    if not settings.is_sqlite:
        return False
    database = make_url(settings.database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not Path(database).is_file()


def build_null_pool_engine(settings: Settings) -> AsyncEngine:
    """A short-lived engine for CLI commands and migrations."""
    return create_async_engine(settings.database_url, poolclass=NullPool)


# What a dropped or refused connection raises on asyncpg: the connection is gone (or the server is shutting down or
# starting), not the statement wrong.
CONNECTION_LOST = (asyncpg.ConnectionDoesNotExistError, asyncpg.PostgresConnectionError,
                   asyncpg.exceptions.OperatorInterventionError, OSError)


async def _set_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):  # decoded as SQLAlchemy's JSON type decodes them
        await connection.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """asyncpg resets a released connection with a round trip (`RESET ALL`, `UNLISTEN *`, ...); these statements
    change no session state, so only an (impossible) open transaction needs undoing."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class DirectPool:
    """An asyncpg pool for one event loop, opened on first use, with the engine's ping-after-idle rule."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        # First come, first served: asyncpg's pool lets a newcomer take a connection just returned while earlier
        # waiters sleep on, so under load a few requests waited 300-500 ms (p99) while p50 was 10 ms. Waiting
        # here instead (asyncio's semaphore queues in order), a request only reaches the pool when one is free.
        self._turns = asyncio.Semaphore(settings.database_direct_pool_size)
        self._released_at: dict[int, float] = {}  # server pid -> monotonic time the connection was last returned
        self.in_use = 0
        self.waiting = 0

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                dsn = make_url(self._settings.database_url).set(drivername="postgresql")
                self._pool = await asyncpg.create_pool(
                    dsn.render_as_string(hide_password=False), min_size=0,
                    max_size=self._settings.database_direct_pool_size, init=_set_codecs,
                    reset=_keep_session_state, max_inactive_connection_lifetime=1800)
            return self._pool

    def acquire(self) -> ConnectionLease:
        """`async with pool.acquire() as connection`: a connection; one lost on the way (the database restarted or
        is down) is a retryable 503 `database_unavailable`, as on the engine, and the pool then replaces every
        connection it holds."""
        return ConnectionLease(self)

    @property
    def open_connections(self) -> int:
        return self._pool.get_size() if self._pool is not None else 0

    async def _checked(self, pool: asyncpg.Pool) -> asyncpg.Connection:
        """A connection idle past `DVC_DATABASE_PING_AFTER_IDLE_S` answers one `SELECT 1` first; dead ones are
        closed and replaced (after a database restart every idle one is dead), so no request sees them."""
        for _ in range(self._settings.database_direct_pool_size):
            connection = await pool.acquire()
            released_at = self._released_at.pop(connection.get_server_pid(), None)
            if released_at is None or time.monotonic() - released_at < self._settings.database_ping_after_idle_s:
                return connection
            try:
                await connection.execute("SELECT 1")
                return connection
            except CONNECTION_LOST:
                connection.terminate()
                await pool.release(connection)
        return await pool.acquire()  # every pooled one was dead: this one is newly opened

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class ConnectionLease:
    """One connection of a DirectPool for an `async with` block. A class, not a generator context manager: every
    request takes one or two (the gate's lookup, the route's statement), and three nested generator layers cost
    ~25 us of CPU per checkout against asyncpg's own pool (bench/PROFILE.md, session 15)."""

    __slots__ = ("_connection", "_owner", "_pid", "_pool")

    def __init__(self, owner: DirectPool) -> None:
        self._owner = owner

    async def __aenter__(self) -> asyncpg.Connection:
        owner = self._owner
        owner.waiting += 1
        try:
            await owner._turns.acquire()
        finally:
            owner.waiting -= 1
        try:
            pool = owner._pool or await owner._open()
            connection = await owner._checked(pool)
        except BaseException as error:
            owner._turns.release()
            if isinstance(error, CONNECTION_LOST):
                raise database_unavailable() from error
            raise
        owner.in_use += 1
        self._pool, self._connection, self._pid = pool, connection, connection.get_server_pid()
        return connection

    async def __aexit__(self, error_type: type[BaseException] | None, error: BaseException | None,
                        traceback: Any) -> None:
        owner = self._owner
        lost = isinstance(error, CONNECTION_LOST)
        try:
            if lost:
                log.warning("database connection lost", extra={"error": repr(error)})
                await self._pool.expire_connections()
                raise database_unavailable() from error
            if isinstance(error, asyncpg.DataError):  # SQLSTATE class 22 or a parameter asyncpg cannot encode
                log.warning("database refused a request value", extra={"error": str(error)})
                raise value_refused() from error
        finally:
            if not lost:  # a lost one is replaced: nothing to remember of it
                owner._released_at[self._pid] = time.monotonic()
            try:
                await self._pool.release(self._connection)
            finally:
                owner.in_use -= 1
                owner._turns.release()


class Database:
    """Engines and session factories; created once per process (lazily, so settings can change in tests)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.write_engine = build_engine(settings, immediate=True)
        # PostgreSQL reads run in autocommit, on the same pool: under READ COMMITTED every statement takes its
        # own snapshot inside a transaction too, so BEGIN ... ROLLBACK around a read bought nothing but two
        # round trips. SQLite keeps a deferred transaction: it is what gives a read one consistent snapshot.
        self.read_engine = (build_engine(settings, immediate=False) if settings.is_sqlite
                            else self.write_engine.execution_options(isolation_level="AUTOCOMMIT"))
        self.write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        # The few statements of app.core.direct run on asyncpg itself on PostgreSQL, on SQLite on an engine of
        # their own.
        self.direct_pool = None if settings.is_sqlite else DirectPool(settings)
        self.direct_reads = build_engine(settings, single_statements=True) if settings.is_sqlite else None

    async def dispose(self) -> None:
        if self.direct_pool is not None:
            await self.direct_pool.close()
        if self.direct_reads is not None:
            await self.direct_reads.dispose()
        await self.write_engine.dispose()
        if self.read_engine.pool is not self.write_engine.pool:
            await self.read_engine.dispose()


# One Database per event loop: a process serving requests has one loop; tests may drive the app from others
# (a schemathesis TestClient thread), and async drivers cannot share connections across loops.
_databases: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Database] = weakref.WeakKeyDictionary()


def get_database() -> Database:
    loop = asyncio.get_running_loop()
    database = _databases.get(loop)
    if database is None:
        database = _databases[loop] = Database(get_settings())
    return database


async def close_database() -> None:
    database = _databases.pop(asyncio.get_running_loop(), None)
    if database is not None:
        await database.dispose()


@dataclass
class PoolStatus:
    checked_out: int = 0  # the engine's pool
    size: int = 0
    direct_in_use: int = 0  # the direct pool (PostgreSQL)
    direct_open: int = 0
    direct_waiting: int = 0  # requests queued for a direct connection


def pool_status() -> PoolStatus:
    status = PoolStatus()
    for database in list(_databases.values()):
        pool: Any = database.write_engine.pool
        status.checked_out += int(pool.checkedout()) if hasattr(pool, "checkedout") else 0
        status.size += int(pool.size()) if hasattr(pool, "size") else 0
        if database.direct_pool is not None:
            status.direct_in_use += database.direct_pool.in_use
            status.direct_open += database.direct_pool.open_connections
            status.direct_waiting += database.direct_pool.waiting
    return status


async def write_session() -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on any error."""
    async with get_database().write_sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def read_session() -> AsyncIterator[AsyncSession]:
    """For routes that only read; never commits (on PostgreSQL it runs in autocommit: never write through it)."""
    async with get_database().read_sessions() as session:
        yield session


# scope="function": commit happens before the response is sent, so a failed commit is never a 200.
SessionDep = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session, scope="function")]

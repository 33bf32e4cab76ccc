"""Database: the declarative base, engines for both databases, and one transaction per request.

SQLite is the embedded default (WAL, foreign keys, busy timeout; write transactions start with
`BEGIN IMMEDIATE` so concurrent writers queue instead of failing on upgrade). PostgreSQL is production.
Reads go through a separate SQLite engine with plain deferred transactions, so readers never queue behind
writers; on PostgreSQL both names share one engine.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Depends
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Uuid, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from app.core.settings import Settings, get_settings

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


def _sqlite_pragmas(settings: Settings, immediate: bool) -> Any:
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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return on_connect, on_begin


def build_engine(settings: Settings, *, immediate: bool = True) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(settings.database_url,
                                     connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000})
        on_connect, on_begin = _sqlite_pragmas(settings, immediate)
        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", on_begin)
        return engine
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
    )
    if engine.dialect.driver == "asyncpg":
        engine.sync_engine.dialect.do_ping = _one_trip_ping  # type: ignore[method-assign]
    return engine


def _one_trip_ping(dbapi_connection: Any) -> bool:
    """The pool's pre-ping on asyncpg in one round trip.

    SQLAlchemy's asyncpg ping wraps a prepared `;` in BEGIN ... ROLLBACK (three round trips, so that the
    prepared statement suits pgbouncer's transaction mode), and it runs on every checkout: twice per
    authenticated request (the gate's lookup, then the route's session). The profile showed it as ~40% of the
    gate's cost. A simple-protocol `SELECT 1` prepares nothing, so it is safe under pgbouncer too; a dead connection
    still raises here, is translated to the DBAPI error, and the pool replaces it before the request uses it.
    """
    try:
        await_(dbapi_connection._connection.execute("SELECT 1"))
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


def build_null_pool_engine(settings: Settings) -> AsyncEngine:
    """A short-lived engine for CLI commands and migrations."""
    return create_async_engine(settings.database_url, poolclass=NullPool)


class Database:
    """Engines and session factories; created once per process (lazily, so settings can change in tests)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.write_engine = build_engine(settings, immediate=True)
        self.read_engine = build_engine(settings, immediate=False) if settings.is_sqlite else self.write_engine
        self.write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
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


def pool_status() -> tuple[int, int]:
    checked_out = size = 0
    for database in list(_databases.values()):
        pool: Any = database.write_engine.pool
        checked_out += int(pool.checkedout()) if hasattr(pool, "checkedout") else 0
        size += int(pool.size()) if hasattr(pool, "size") else 0
    return checked_out, size


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
    """For routes that only read; never commits."""
    async with get_database().read_sessions() as session:
        yield session


# scope="function": commit happens before the response is sent, so a failed commit is never a 200.
SessionDep = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session, scope="function")]

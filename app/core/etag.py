"""Optimistic concurrency over HTTP (API-CONVENTIONS): a resource that can be changed concurrently carries an
`ETag` made from its version counter, and a change to it needs `If-Match`.

The counter is SQLAlchemy's `version_id_col`: every UPDATE of the row sets `version = read + 1` and names the
version read in its WHERE clause. The If-Match check is made against the row as read (428 without the header,
412 when stale), and the database makes it again when it writes: a writer that read the row before another one
committed updates nothing, and `flush_versioned` answers 412 for it too. So of two changes sent with the same
ETag exactly one applies, on SQLite and PostgreSQL alike, without holding a lock between the read and the write.
Either 412 names the current `ETag`, so that a client can read again knowing what it is looking for.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.db import get_database
from app.core.problems import ProblemError

# The problems a change that needs If-Match may answer, for a route's `responses`.
PRECONDITION_PROBLEMS = ("precondition_failed", "precondition_required")

IfMatch = Annotated[str | None, Header(
    description="The ETag last read; required to change the resource (428 without it, 412 if it changed since).")]


def version_tag(version: int) -> str:
    """A strong validator: the version counter, quoted (RFC 9110 §8.8.3)."""
    return f'"{version}"'


def check_if_match(version: int, if_match: str | None, what: str) -> None:
    """428 `precondition_required` without If-Match, 412 `precondition_failed` (with the current ETag) when no tag
    it lists is the current one; `*` stands for whatever version is current."""
    if if_match is None:
        raise ProblemError("precondition_required", "Send If-Match with the ETag you last read.")
    current = version_tag(version)
    # RFC 9110 §13.1.1: If-Match uses the strong comparison, so a weak tag (W/"n") never matches.
    tags = {t.strip() for t in if_match.split(",")}
    if "*" not in tags and current not in tags:
        raise ProblemError("precondition_failed", f"The {what} has changed since you read it; read it again.",
                           headers={"ETag": current})


async def flush_versioned(session: AsyncSession, row: object, what: str) -> None:
    """Flush a change to `row`, a versioned row; 412 `precondition_failed` if another transaction changed it after
    it was read here (the UPDATE matched no row at the version read), with the `ETag` the row has now. The
    transaction is then over: the session is rolled back."""
    try:
        await session.flush()
    except StaleDataError as error:
        current = await _committed_version(session, row)
        headers = {"ETag": version_tag(current)} if current is not None else None
        raise ProblemError("precondition_failed", f"The {what} changed meanwhile; read it again.",
                           headers=headers) from error


async def _committed_version(session: AsyncSession, row: object) -> int | None:
    """The version counter of `row` as committed now; None if the row is gone. The failed flush has already rolled
    the database transaction back: the session's rollback returns its connection, and the read takes one of its
    own, since a session inside `async with session.begin()` runs no statement once its transaction has ended. It
    reads on the read engine: on SQLite the write engine begins every transaction IMMEDIATE, and a plain read
    would queue behind every writer."""
    state = inspect(row)
    mapper, identity = state.mapper, state.identity
    await session.rollback()
    if mapper.version_id_col is None or identity is None:
        return None
    stmt = select(mapper.version_id_col).where(*(column == value
                                                 for column, value in zip(mapper.primary_key, identity, strict=True)))
    async with get_database().read_engine.connect() as connection:
        version = await connection.scalar(stmt)
    return int(version) if version is not None else None

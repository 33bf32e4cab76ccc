"""`Idempotency-Key` for creating POSTs (API-CONVENTIONS.md), implemented once for every domain.

Same key + same body within the TTL replays the first answer (`Idempotent-Replayed: true`); same key + other
body is 422 `idempotency_key_reused`; same key while the first request still runs is 409
`idempotency_in_progress`. Keys are scoped per caller.

How: the key is claimed in its own short transaction (so concurrent requests see the claim at once), the work
runs in the request's transaction, and the stored answer is written in that same transaction, so the answer
exists if and only if the work committed. A failed request releases its claim; a claim whose holder died is
taken over once its lease runs out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Integer, String, bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base, get_database
from app.core.direct import DirectConnection, DirectStatement, autocommit_writes
from app.core.problems import ProblemError
from app.core.settings import get_settings

LEASE = timedelta(seconds=60)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    body: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    headers: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


def _request_hash(method: str, path: str, payload: Any) -> str:
    canonical = json.dumps({"m": method, "p": path, "b": payload}, sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(insert: Any) -> Any:
    """Claim a new key unless a row exists (one statement, no read first; a concurrent claim of the same key
    makes it wait for that transaction, then do nothing). Built once per dialect, like `_STORE_ANSWER`:
    building a statement costs more than running it."""
    columns = ("scope", "key", "request_hash", "created_at", "locked_until", "expires_at")
    return (insert(IdempotencyRecord).values({name: bindparam(name) for name in columns})
            .on_conflict_do_nothing(index_elements=["scope", "key"]).returning(IdempotencyRecord.scope))


_CLAIM = DirectStatement(_claim(postgresql.insert), sqlite=_claim(sqlite.insert))
_STORE_ANSWER = DirectStatement(
    update(IdempotencyRecord)
    .where(IdempotencyRecord.scope == bindparam("b_scope"), IdempotencyRecord.key == bindparam("b_key"))
    .values(status_code=bindparam("status_code"), body=bindparam("body"), headers=bindparam("headers"),
            locked_until=None))


class Idempotency:
    """Per-request handle; a no-op when the request carries no `Idempotency-Key`."""

    def __init__(self, request: Request, key: str | None) -> None:
        self.request = request
        self.key = key
        self.scope: str | None = None
        self.claimed = False
        self.completed = False

    async def replay_or_claim(self, scope: str, payload: BaseModel | dict[str, Any] | None) -> JSONResponse | None:
        """The first answer to replay, or None after claiming the key for this request."""
        if self.key is None:
            return None
        self.scope = scope
        body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        digest = _request_hash(self.request.method, self.request.url.path, body)
        now = clock.now()
        # The common case, a new key: claimed in one statement, committed on its own (app.core.direct).
        async with autocommit_writes() as writer:
            won = await writer.fetchrow(_CLAIM, scope=scope, key=self.key, request_hash=digest, created_at=now,
                                        locked_until=now + LEASE,
                                        expires_at=now + timedelta(seconds=get_settings().idempotency_ttl_s))
        if won is not None:
            self.claimed = True
            return None
        async with get_database().write_sessions() as session:
            existing = await session.get(IdempotencyRecord, (scope, self.key))
            if existing is not None and existing.expires_at <= now:
                await session.delete(existing)
                await session.flush()
                existing = None
            if existing is None:
                session.add(IdempotencyRecord(scope=scope, key=self.key, request_hash=digest, created_at=now,
                                              expires_at=now + timedelta(seconds=get_settings().idempotency_ttl_s),
                                              locked_until=now + LEASE))
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                    raise ProblemError("idempotency_in_progress",
                                       "A request with this Idempotency-Key is still being processed.") from None
                self.claimed = True
                return None
            await session.commit()
        if existing.request_hash != digest:
            raise ProblemError("idempotency_key_reused",
                               "This Idempotency-Key was used with a different request body.")
        if existing.status_code is None:
            if existing.locked_until and existing.locked_until > now:
                raise ProblemError("idempotency_in_progress",
                                   "A request with this Idempotency-Key is still being processed.")
            await self._take_over(scope, now)
            return None
        headers = dict(existing.headers or {})
        headers["Idempotent-Replayed"] = "true"
        return JSONResponse(existing.body, status_code=existing.status_code, headers=headers)

    async def answered_before(self, scope: str) -> bool:
        """Whether this key already holds an answer for `scope` (any request): a route that would refuse
        before reading the whole body asks first, so a retry of what it once accepted is still replayed."""
        if self.key is None:
            return False
        async with get_database().read_sessions() as session:
            record = await session.get(IdempotencyRecord, (scope, self.key))
        return record is not None and record.status_code is not None and record.expires_at > clock.now()

    async def _take_over(self, scope: str, now: datetime) -> None:
        """The holder of an abandoned claim died; claim it for this request (one winner)."""
        async with get_database().write_sessions() as session:
            result = await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == self.key,
                       IdempotencyRecord.status_code.is_(None), IdempotencyRecord.locked_until <= now)
                .values(locked_until=now + LEASE))
            await session.commit()
        if getattr(result, "rowcount", 0) != 1:
            raise ProblemError("idempotency_in_progress",
                               "A request with this Idempotency-Key is still being processed.")
        self.claimed = True

    async def respond(self, writer: AsyncSession | DirectConnection, body: BaseModel, *, status_code: int = 200,
                      headers: dict[str, str] | None = None) -> JSONResponse:
        """The answer; when a key was claimed, it is stored in the caller's transaction for replays (an ORM
        session's, or one of app.core.direct's)."""
        content = body.model_dump(mode="json")
        if self.claimed and self.scope is not None:
            values = {"b_scope": self.scope, "b_key": self.key, "status_code": status_code, "body": content,
                      "headers": headers or {}}
            if isinstance(writer, AsyncSession):
                await writer.execute(_STORE_ANSWER.statement, values)
            else:
                await writer.execute(_STORE_ANSWER, **values)
            self.completed = True
        return JSONResponse(content, status_code=status_code, headers=headers)

    async def release(self) -> None:
        """The request failed: free the key so the client may retry with it."""
        if not (self.claimed and self.scope is not None):
            return
        async with get_database().write_sessions() as session:
            await session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == self.scope, IdempotencyRecord.key == self.key,
                IdempotencyRecord.status_code.is_(None)))
            await session.commit()


_KEY_DOC = "Replays the first successful answer for 24 h; a refused request (4xx) keeps nothing: a retry runs afresh."


async def _idempotency(
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=255, min_length=1, description=_KEY_DOC)] = None,
) -> AsyncIterator[Idempotency]:
    handle = Idempotency(request, idempotency_key)
    try:
        yield handle
    except BaseException:
        await handle.release()
        raise


# Declare this before SessionDep in a route's parameters: it then exits after the commit, and sees its failure.
IdempotencyDep = Annotated[Idempotency, Depends(_idempotency, scope="function")]


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["IdempotencyDep", "IdempotencyRecord", "purge_expired"]

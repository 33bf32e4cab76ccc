"""Reference anchors: the insert and primary-key read anchors' work through SQLAlchemy 2's async ORM session.

Not what a scenario is measured against (the issues set their targets against the bare asyncpg anchors), but
what the stack the service is built on (FastAPI + SQLAlchemy async ORM over asyncpg, the pool configured as
the app's under load: size 10, no ping of a connection in use moments ago) costs before any of the service's
own code: the floor an ORM-based route starts from. Same tables, request bodies and answers as `insert_app`
and `pk_read_app`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from sqlalchemy import JSON, DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.anchors import insert_app, pk_read_app
from bench.anchors.pool import POOL_SIZE


class Base(DeclarativeBase):
    pass


class InsertedItem(Base):
    __tablename__ = "bench_anchor_insert"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReadItem(Base):
    __tablename__ = "bench_anchor_read"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str]
    status: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


sessions: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def engine_lifespan(_: FastAPI) -> AsyncIterator[None]:
    global sessions
    url = os.environ["BENCH_DSN"].replace("postgresql://", "postgresql+asyncpg://", 1)
    # Like the app under load: its pool checks only connections idle for a second (app/core/db.py).
    engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=10)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        yield
    finally:
        await engine.dispose()


def build(kind: str) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=engine_lifespan)

    if kind == "insert":
        @app.post("/items", status_code=201)
        async def insert_item(item: insert_app.ItemIn) -> insert_app.ItemOut:
            async with sessions() as session, session.begin():
                row = InsertedItem(id=uuid.uuid4(), name=item.name, payload=item.payload)
                session.add(row)
                await session.flush()
                await session.refresh(row, ["created_at"])
            return insert_app.ItemOut(id=row.id, created_at=row.created_at)
    else:
        @app.get("/items/{item_id}")
        async def read_item(item_id: uuid.UUID) -> pk_read_app.ItemOut:
            async with sessions() as session:
                row = await session.get(ReadItem, item_id)
            if row is None:
                raise HTTPException(404, "not found")
            return pk_read_app.ItemOut(id=row.id, code=row.code, status=row.status, created_at=row.created_at)
    return app


insert = build("insert")
pk_read = build("pk_read")

"""Anchor: validate a small JSON body and insert one row with asyncpg, in its own transaction."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from pydantic import BaseModel

from bench.anchors.pool import pool_lifespan
from bench.model import Request

DDL = """
CREATE TABLE bench_anchor_insert (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

REQUEST = Request.json("POST", "/items", b'{"name": "bench item", "payload": {"field": "value", "count": 3}}')

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=pool_lifespan)


class ItemIn(BaseModel):
    name: str
    payload: dict[str, object]


class ItemOut(BaseModel):
    id: uuid.UUID
    created_at: datetime


@app.post("/items", status_code=201)
async def insert_item(item: ItemIn, request: HttpRequest) -> ItemOut:
    async with request.app.state.pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "INSERT INTO bench_anchor_insert (id, name, payload) VALUES ($1, $2, $3::jsonb) RETURNING id, created_at",
            uuid.uuid4(), item.name, json.dumps(item.payload),
        )
    return ItemOut(id=row["id"], created_at=row["created_at"])

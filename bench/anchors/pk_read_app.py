"""Anchor: read one row by primary key with asyncpg and answer it as JSON (404 when absent)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import FastAPI, HTTPException
from fastapi import Request as HttpRequest
from pydantic import BaseModel

from bench.anchors.pool import pool_lifespan
from bench.model import Request

# A known row among many, so the read goes through a real index of a non-trivial table.
READ_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
SEED_ROWS = 10_000

DDL = """
CREATE TABLE bench_anchor_read (
    id uuid PRIMARY KEY,
    code text NOT NULL,
    status text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
SEED = f"""
INSERT INTO bench_anchor_read (id, code, status, payload)
SELECT md5(i::text)::uuid, 'CODE-' || i, 'received', jsonb_build_object('n', i)
FROM generate_series(1, {SEED_ROWS}) AS i;
INSERT INTO bench_anchor_read (id, code, status, payload)
VALUES ('{READ_ID}', 'CODE-READ', 'received', '{{"n": 0}}');
ANALYZE bench_anchor_read;
"""

REQUEST = Request("GET", f"/items/{READ_ID}")

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=pool_lifespan)


class ItemOut(BaseModel):
    id: uuid.UUID
    code: str
    status: str
    created_at: datetime


@app.get("/items/{item_id}")
async def read_item(item_id: uuid.UUID, request: HttpRequest) -> ItemOut:
    row = await request.app.state.pool.fetchrow(
        "SELECT id, code, status, created_at FROM bench_anchor_read WHERE id = $1", item_id)
    if row is None:
        raise HTTPException(404, "not found")
    return ItemOut(**dict(row))

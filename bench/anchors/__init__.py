"""Bare anchor apps: the least code that does a scenario's work, so the app's overhead shows as a ratio.

Each anchor is a tiny module served by uvicorn (1 worker) on its own loopback port. Database anchors
read `BENCH_DSN` (asyncpg DSN of the bench database) and use their own table, created by `DDL` and
filled by `SEED` before the run.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.anchors import insert_app, json_app, lean_transition_app, pk_read_app
from bench.model import Request


@dataclass(frozen=True)
class Anchor:
    name: str
    module: str  # "package.module:app" for uvicorn
    description: str
    request: Request
    ddl: str = ""
    seed: str = ""
    tables_of: str = ""  # another anchor whose tables (DDL, seed) this one uses


ANCHORS: dict[str, Anchor] = {
    "json": Anchor("json", "bench.anchors.json_app:app", "FastAPI, fixed JSON", json_app.REQUEST),
    "insert": Anchor("insert", "bench.anchors.insert_app:app", "FastAPI + asyncpg one-row insert",
                     insert_app.REQUEST, insert_app.DDL),
    "pk_read": Anchor("pk_read", "bench.anchors.pk_read_app:app", "FastAPI + asyncpg primary-key read",
                      pk_read_app.REQUEST, pk_read_app.DDL, pk_read_app.SEED),
    # References (no scenario is measured against them): the same work through SQLAlchemy's async ORM.
    "orm_insert": Anchor("orm_insert", "bench.anchors.orm_app:insert", "FastAPI + SQLAlchemy ORM one-row insert",
                         insert_app.REQUEST, tables_of="insert"),
    "orm_pk_read": Anchor("orm_pk_read", "bench.anchors.orm_app:pk_read",
                          "FastAPI + SQLAlchemy ORM primary-key read", pk_read_app.REQUEST, tables_of="pk_read"),
    # What a transition written straight on asyncpg (one data-modifying CTE) would cost: the proposed rewrite.
    "lean_transition": Anchor("lean_transition", "bench.anchors.lean_transition_app:app",
                              "FastAPI + asyncpg transition: lookup, read, one CTE write", lean_transition_app.REQUEST,
                              lean_transition_app.DDL, lean_transition_app.SEED),
}

"""Operations endpoints: liveness, readiness (database + migrations at head) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from app.core import metrics
from app.core.db import get_database
from app.core.migrations import migration_heads
from app.core.openapi import problems
from app.core.problems import ProblemError

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: list[str]


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: database reachable and migrated to head",
            responses=problems("not_ready"))
async def readyz() -> Readiness:
    try:
        async with get_database().read_engine.connect() as connection:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except Exception as error:  # any database failure means "not ready", never a 500
        raise ProblemError("not_ready", "The database is not reachable or not migrated.") from error
    if frozenset(rows) != migration_heads():
        raise ProblemError("not_ready", "Database migrations are not at head; run `dvc migrate`.")
    return Readiness(status="ready", database="ok", migrations=sorted(rows))


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    body, media_type = metrics.render()
    return Response(body, media_type=media_type)

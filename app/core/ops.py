"""Operations endpoints: liveness, readiness (database + migrations at head) and Prometheus metrics."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from app.core import metrics
from app.core.db import get_database
from app.core.openapi import problems
from app.core.problems import ProblemError

router = APIRouter(tags=["operations"])

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: list[str]


@lru_cache
def migration_heads() -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


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
        raise ProblemError("not_ready", "Database migrations are not at head; run `alembic upgrade head`.")
    return Readiness(status="ready", database="ok", migrations=sorted(rows))


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    body, media_type = metrics.render()
    return Response(body, media_type=media_type)

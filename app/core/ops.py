"""Operations endpoints: liveness, readiness (database + migrations at head, storage writable), Prometheus metrics."""

from __future__ import annotations

import logging
import tempfile

import anyio.to_thread
from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from app.core import metrics, pdfsign
from app.core.db import get_database, sqlite_file_missing
from app.core.migrations import migration_heads
from app.core.openapi import problems
from app.core.problems import ProblemError
from app.core.settings import Settings, SettingsError, get_settings

log = logging.getLogger("app.ops")


def storage_dir_problem(settings: Settings, *, create: bool) -> str | None:
    """Why attachments cannot be written under DVC_STORAGE_DIR (None: they can): a probe file is made and removed.

    Not a field validator: reading the settings (every `dvc` command, every test) must not create directories.
    `create`: at start a missing directory is made; the readiness probe creates nothing (a missing one may be an
    unmounted volume, which writing would hide)."""
    path = settings.storage_dir
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            return f"{path} is not a directory"
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass  # removed on close
    except OSError as error:
        return f"cannot write in {path}: {error.strerror or error}"
    return None


def require_writable_storage(settings: Settings) -> None:
    """At start-up: stop with one line naming the variable unless uploads can be stored."""
    problem = storage_dir_problem(settings, create=True)
    if problem is not None:
        raise SettingsError(f"invalid setting DVC_STORAGE_DIR: {problem}")

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: list[str]
    storage: str
    # Who signs issued documents (app.core.pdfsign): `on` (DVC_DOCUMENT_SIGNING_KEY_FILE), `development` (dev's
    # development signer) or `off` (issued unsigned; still ready: a province may run so while its key is issued).
    document_signing: pdfsign.Mode


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: database reachable and migrated to head, storage writable",
            responses=problems("not_ready"))
async def readyz() -> Readiness:
    settings = get_settings()
    if sqlite_file_missing(settings):  # SQLite creates a missing file on connect: an empty database is not ready
        raise ProblemError("not_ready", "The database file does not exist; run `dvc migrate`.")
    try:
        async with get_database().read_engine.connect() as connection:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except Exception as error:  # any database failure means "not ready", never a 500
        raise ProblemError("not_ready", "The database is not reachable or not migrated.") from error
    if frozenset(rows) != migration_heads():
        raise ProblemError("not_ready", "Database migrations are not at head; run `dvc migrate`.")
    problem = await anyio.to_thread.run_sync(lambda: storage_dir_problem(settings, create=False))
    if problem is not None:
        log.warning("not ready: DVC_STORAGE_DIR: %s", problem)  # the path stays out of the public answer
        raise ProblemError("not_ready", "The file storage (DVC_STORAGE_DIR) is not writable.")
    return Readiness(status="ready", database="ok", migrations=sorted(rows), storage="ok",
                     document_signing=pdfsign.mode(settings))


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    body, media_type = metrics.render()
    return Response(body, media_type=media_type)

"""Test harness: the real app over httpx.ASGITransport, on a real database created for this run.

SQLite by default; PostgreSQL when DVC_TEST_DATABASE_URL is set (a fresh database is created on that server
and dropped at the end). Tests are isolated by emptying every table after each test (tests/support/tables.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.idp import AUDIENCE, ISSUER, TestIdentityProvider

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("deep", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = [
    "tests.support.identity_fixtures",
    "tests.support.catalogue_fixtures",
    "tests.support.dossier_fixtures",
    "tests.support.workflow_fixtures",
    "tests.support.problem_contract",  # fails the run when a route answers a problem its spec does not list
]

_WORKDIR = Path(tempfile.mkdtemp(prefix="dvc-test-"))
IDP = TestIdentityProvider(_WORKDIR)


def _run_in_thread(coro_factory) -> None:  # type: ignore[no-untyped-def]
    """Run a coroutine on a private loop (alembic and server admin calls use asyncio.run themselves)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_factory())
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _server_admin(url: str, statement: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    _run_in_thread(run)


def _configure_environment() -> tuple[str, str | None]:
    server_url = os.environ.get("DVC_TEST_DATABASE_URL")
    if server_url:
        name = f"dvc_test_{uuid.uuid4().hex[:10]}"
        _server_admin(server_url, f'CREATE DATABASE "{name}"')
        base = server_url.rsplit("/", 1)[0]
        database_url = f"{base}/{name}"
    else:
        name = None
        database_url = f"sqlite+aiosqlite:///{_WORKDIR / 'test.db'}"
    os.environ.update({
        "DVC_ENV": "test",
        "DVC_DATABASE_URL": database_url,
        "DVC_STORAGE_DIR": str(_WORKDIR / "files"),
        "DVC_VAR_DIR": str(_WORKDIR / "var"),
        "DVC_OIDC_ISSUER": ISSUER,
        "DVC_OIDC_AUDIENCE": AUDIENCE,
        "DVC_OIDC_JWKS_FILE": str(IDP.jwks_path),
        "DVC_OIDC_JWKS_URL": "",
        "DVC_PUBLIC_RATE_LIMIT_PER_MIN": "0",
        "DVC_LOG_LEVEL": "WARNING",
    })
    return database_url, name


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url, created = _configure_environment()
    from app.core.settings import get_settings

    get_settings.cache_clear()
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).resolve().parents[1] / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    _run_in_thread(lambda: asyncio.to_thread(command.upgrade, config, "heads"))
    yield url
    if created:
        server_url = os.environ["DVC_TEST_DATABASE_URL"]
        _server_admin(server_url, f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
    shutil.rmtree(_WORKDIR, ignore_errors=True)


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    from app.core.db import close_database
    from app.main import create_app
    from tests.support.problem_contract import RECORDER

    app = create_app()
    RECORDER.install(app)
    yield app
    await close_database()


@pytest.fixture
async def client(app) -> AsyncIterator:  # type: ignore[no-untyped-def]
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """`settings_env(DVC_X="1")`: environment settings for this test only (the cached settings are dropped
    before and after)."""
    from app.core.settings import get_settings

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def idp() -> TestIdentityProvider:
    return IDP


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "database_url" not in request.fixturenames:
        return
    from app.reporting.cache import public_cache
    from app.reporting.figures import rebuilt_days
    from tests.support.tables import empty_all_tables

    await empty_all_tables()
    # What the per-worker report caches kept describes the rows just emptied.
    public_cache.clear()
    rebuilt_days.clear()

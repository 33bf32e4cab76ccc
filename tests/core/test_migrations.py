"""Migrations and models agree, and every migration downgrades cleanly."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.core.db import get_database
from app.core.registry import load_all_models

ROOT = Path(__file__).resolve().parents[2]


async def test_migrated_schema_matches_the_models(app) -> None:  # type: ignore[no-untyped-def]
    metadata = load_all_models()

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with get_database().write_engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], f"models and migrations differ; add a migration: {differences}"


def test_single_head() -> None:
    config = Config(str(ROOT / "alembic.ini"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1, "merge the migration heads"


def _roundtrip(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url

    async def roundtrip() -> None:
        await asyncio.to_thread(command.upgrade, config, "head")
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(command.upgrade, config, "head")

    asyncio.run(roundtrip())


def test_downgrade_to_base_and_upgrade_again_on_sqlite(tmp_path: Path) -> None:
    _roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}")


@pytest.mark.skipif(not os.environ.get("DVC_TEST_DATABASE_URL"), reason="PostgreSQL run only")
def test_downgrade_to_base_and_upgrade_again_on_postgresql() -> None:
    import asyncpg

    server = os.environ["DVC_TEST_DATABASE_URL"]
    name = f"dvc_roundtrip_{uuid.uuid4().hex[:8]}"
    dsn = server.replace("postgresql+asyncpg://", "postgresql://")

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        _roundtrip(f"{server.rsplit('/', 1)[0]}/{name}")
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_webhook_secrets_written_in_clear_are_encrypted_by_the_upgrade(tmp_path: Path) -> None:
    import sqlite3

    from app.core import secrets

    path = tmp_path / "secrets.db"
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = f"sqlite+aiosqlite:///{path}"

    def stored() -> str:
        with sqlite3.connect(path) as db:
            return str(db.execute("SELECT secret FROM webhook_subscriptions").fetchone()[0])

    async def run() -> None:
        await asyncio.to_thread(command.upgrade, config, "0013")
        with sqlite3.connect(path) as db:
            account = uuid.uuid4().hex
            db.execute("INSERT INTO accounts (id, kind, status, client_id, roles, scopes, agency_codes, created_at,"
                       " updated_at) VALUES (?, 'client', 'active', 'c1', '[]', '[]', '[]', '2026-01-01',"
                       " '2026-01-01')", (account,))
            db.execute("INSERT INTO webhook_subscriptions (id, client_id, url, secret, event_types, active,"
                       " created_at) VALUES (?, ?, 'https://h.example.com/', 'whsec_plain', '[]', 1, '2026-01-01')",
                       (uuid.uuid4().hex, account))
        await asyncio.to_thread(command.upgrade, config, "head")
        assert stored().startswith(secrets.FERNET_PREFIX) and secrets.decrypt(stored()) == "whsec_plain"
        await asyncio.to_thread(command.downgrade, config, "0013")
        assert stored() == "whsec_plain"

    asyncio.run(run())

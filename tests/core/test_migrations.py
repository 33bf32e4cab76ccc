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
from tests.support.scratch_db import scratch_postgresql

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
    with scratch_postgresql("dvc_roundtrip") as url:
        _roundtrip(url)


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


def test_the_one_draft_index_waits_until_each_procedure_has_one_draft(tmp_path: Path) -> None:
    """Procedures given several drafts before 0025 stop the upgrade, named; nothing is deleted for the editors."""
    import sqlite3

    path = tmp_path / "drafts.db"
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = f"sqlite+aiosqlite:///{path}"

    def add_draft(db: sqlite3.Connection, number: int) -> None:
        db.execute("INSERT INTO procedure_versions (id, procedure_code, version, status, name, agency_code, field_code,"
                   " online_level, applicant_kinds, channels, processing_days, clock_on_supplement, document_parts,"
                   " fee_items, result, workflow, step_time_limits, sample, search_name, search_extra, facets,"
                   " created_at, updated_at) VALUES (?, 'P1', ?, 'draft', 'P', 'A1', 'F1', 'full', '[]', '[]', 5,"
                   " 'pause', '[]', '[]', '{}', 'standard', '[]', 0, ' ', ' ', ' ', '2026-01-01', '2026-01-01')",
                   (uuid.uuid4().hex, number))

    async def run() -> None:
        await asyncio.to_thread(command.upgrade, config, "0024")
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO procedures (id, code, created_at, updated_at) VALUES (?, 'P1', '2026-01-01',"
                       " '2026-01-01')", (uuid.uuid4().hex,))
            add_draft(db, 2)
            add_draft(db, 3)
        with pytest.raises(RuntimeError, match="P1: versions 2, 3"):
            await asyncio.to_thread(command.upgrade, config, "head")
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM procedure_versions").fetchone()[0] == 2
            db.execute("DELETE FROM procedure_versions WHERE version = 3")
        await asyncio.to_thread(command.upgrade, config, "head")
        with sqlite3.connect(path) as db:  # 0026: numbering goes on from the highest version held
            assert db.execute("SELECT last_version_number FROM procedures").fetchall() == [(2,)]
        with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
            add_draft(db, 3)
        await asyncio.to_thread(command.downgrade, config, "0024")

    asyncio.run(run())

"""Migrations and models agree, and every migration downgrades cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

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


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"

    async def roundtrip() -> None:
        await asyncio.to_thread(command.upgrade, config, "heads")
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(command.upgrade, config, "heads")

    asyncio.run(roundtrip())

"""Migrations 0030 and 0034: mandates recorded before them keep acting (no term, ETag "1"); a term's end and start
then hold in SQL; the downgrade drops the columns and keeps the mandates. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.db import JSONType, UTCDateTime
from app.identity.models import Representative, mandate_in_force
from tests.support.scratch_db import scratch_postgresql

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)

# The tables as the revision before 0030 knew them (no term, no counter), typed for either database.
_ACCOUNTS = sa.table("accounts", sa.column("id", sa.Uuid()), sa.column("kind", sa.String()),
                     sa.column("status", sa.String()), sa.column("citizen_id", sa.String()),
                     sa.column("tax_code", sa.String()), sa.column("name", sa.String()),
                     sa.column("roles", JSONType), sa.column("scopes", JSONType), sa.column("agency_codes", JSONType),
                     sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime()))
_REPRESENTATIVES = sa.table("representatives", sa.column("id", sa.Uuid()), sa.column("organisation_id", sa.Uuid()),
                            sa.column("citizen_account_id", sa.Uuid()), sa.column("created_at", UTCDateTime()))


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    return config


async def _seed(engine: AsyncEngine) -> uuid.UUID:
    """An organisation, a citizen and the mandate between them, as written before 0030."""
    org, citizen, link = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    common = {"status": "active", "roles": [], "scopes": [], "agency_codes": [], "created_at": NOW, "updated_at": NOW}
    async with engine.begin() as connection:
        await connection.execute(sa.insert(_ACCOUNTS).values(id=org, kind="organisation", tax_code="0100109106",
                                                             name="Công ty A", **common))
        await connection.execute(sa.insert(_ACCOUNTS).values(id=citizen, kind="citizen", citizen_id="001099012345",
                                                             name="Nguyễn Văn An", **common))
        await connection.execute(sa.insert(_REPRESENTATIVES).values(id=link, organisation_id=org,
                                                                    citizen_account_id=citizen, created_at=NOW))
    return link


async def _in_force(engine: AsyncEngine, at: datetime) -> list[uuid.UUID]:
    async with engine.connect() as connection:
        return list((await connection.scalars(sa.select(Representative.id).where(mandate_in_force(at)))).all())


async def _set_term(engine: AsyncEngine, link: uuid.UUID, **term: datetime) -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.update(Representative.__table__).where(Representative.id == link).values(**term))


async def _columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("representatives")})


async def _check(url: str) -> None:
    config = _config(url)
    before = ScriptDirectory.from_config(config).get_revision("0030").down_revision
    assert isinstance(before, str)
    await asyncio.to_thread(command.upgrade, config, before)
    engine = create_async_engine(url)
    try:
        link = await _seed(engine)
        await asyncio.to_thread(command.upgrade, config, "0030")
        async with engine.connect() as connection:
            row = (await connection.execute(sa.select(Representative.valid_until, Representative.version)
                                            .where(Representative.id == link))).one()
        assert (row.valid_until, row.version) == (None, 1)  # in force until withdrawn, first ETag "1"
        # 0034 adds the term's start (the gate's rule reads it): none for a mandate recorded before, in force.
        await asyncio.to_thread(command.upgrade, config, "0034")
        async with engine.connect() as connection:
            assert await connection.scalar(sa.select(Representative.valid_from)) is None
        assert await _in_force(engine, NOW + timedelta(days=3650)) == [link]
        await _set_term(engine, link, valid_until=NOW + timedelta(days=1))
        assert await _in_force(engine, NOW + timedelta(hours=23)) == [link]
        assert await _in_force(engine, NOW + timedelta(days=1)) == []
        await _set_term(engine, link, valid_from=NOW + timedelta(hours=2))
        assert await _in_force(engine, NOW + timedelta(hours=1)) == []
        assert await _in_force(engine, NOW + timedelta(hours=2)) == [link]
        with pytest.raises(sa.exc.IntegrityError):  # the table's check: a term starts before it ends
            await _set_term(engine, link, valid_from=NOW + timedelta(days=1))
        await asyncio.to_thread(command.downgrade, config, before)
        assert {"valid_from", "valid_until", "version"}.isdisjoint(await _columns(engine))
        async with engine.connect() as connection:
            assert (await connection.scalars(sa.select(_REPRESENTATIVES.c.id))).all() == [link]
        await asyncio.to_thread(command.upgrade, config, "head")
        assert {"valid_from", "valid_until", "version"} <= await _columns(engine)
    finally:
        await engine.dispose()


def test_the_term_migration_upgrades_and_downgrades_on_sqlite(tmp_path: Path) -> None:
    asyncio.run(_check(f"sqlite+aiosqlite:///{tmp_path / 'mandates.db'}"))


@pytest.mark.skipif(not os.environ.get("DVC_TEST_DATABASE_URL"), reason="PostgreSQL run only")
def test_the_term_migration_upgrades_and_downgrades_on_postgresql() -> None:
    with scratch_postgresql("dvc_mandates") as url:
        asyncio.run(_check(url))

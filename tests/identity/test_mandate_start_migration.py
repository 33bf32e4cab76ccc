"""Migration 0040: `start_notice_for` marks the mandates whose start has already passed as told (no notice about a
start long gone after the upgrade), leaves those starting later and those without a start unmarked, and goes away on
downgrade with the mandates kept. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.db import JSONType, UTCDateTime
from tests.identity.test_mandate_migration import _columns, _config
from tests.support.scratch_db import scratch_postgresql

_ACCOUNTS = sa.table("accounts", sa.column("id", sa.Uuid()), sa.column("kind", sa.String()),
                     sa.column("status", sa.String()), sa.column("citizen_id", sa.String()),
                     sa.column("tax_code", sa.String()), sa.column("name", sa.String()),
                     sa.column("roles", JSONType), sa.column("scopes", JSONType), sa.column("agency_codes", JSONType),
                     sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime()))
_REPRESENTATIVES = sa.table("representatives", sa.column("id", sa.Uuid()), sa.column("organisation_id", sa.Uuid()),
                            sa.column("citizen_account_id", sa.Uuid()), sa.column("created_at", UTCDateTime()),
                            sa.column("valid_from", UTCDateTime()), sa.column("start_notice_for", UTCDateTime()))


async def _check(url: str) -> None:
    config = _config(url)
    before = ScriptDirectory.from_config(config).get_revision("0040").down_revision
    assert isinstance(before, str)
    await asyncio.to_thread(command.upgrade, config, before)
    engine = create_async_engine(url)
    now = datetime.now(UTC).replace(microsecond=0)
    org = uuid.uuid4()
    starts = {"began": now - timedelta(days=2), "later": now + timedelta(days=2), "none": None}
    links = {name: uuid.uuid4() for name in starts}
    common = {"status": "active", "roles": [], "scopes": [], "agency_codes": [], "created_at": now, "updated_at": now}
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.insert(_ACCOUNTS).values(id=org, kind="organisation", tax_code="0100109106",
                                                                 name="Công ty A", **common))
            for number, (name, start) in enumerate(starts.items()):
                citizen = uuid.uuid4()
                await connection.execute(sa.insert(_ACCOUNTS).values(
                    id=citizen, kind="citizen", citizen_id=f"00109901234{number}", name=name, **common))
                await connection.execute(sa.insert(_REPRESENTATIVES).values(  # only these columns: no marker yet
                    id=links[name], organisation_id=org, citizen_account_id=citizen,
                    created_at=now, valid_from=start))
        await asyncio.to_thread(command.upgrade, config, "0040")
        async with engine.connect() as connection:
            marked = dict((await connection.execute(sa.select(_REPRESENTATIVES.c.id,
                                                              _REPRESENTATIVES.c.start_notice_for))).all())
        assert marked == {links["began"]: starts["began"], links["later"]: None, links["none"]: None}
        await asyncio.to_thread(command.downgrade, config, before)
        assert "start_notice_for" not in await _columns(engine)
        async with engine.connect() as connection:
            assert len((await connection.scalars(sa.select(_REPRESENTATIVES.c.id))).all()) == 3
        await asyncio.to_thread(command.upgrade, config, "head")
    finally:
        await engine.dispose()


def test_the_start_notice_migration_marks_started_mandates_on_sqlite(tmp_path: Path) -> None:
    asyncio.run(_check(f"sqlite+aiosqlite:///{tmp_path / 'starts.db'}"))


@pytest.mark.skipif(not os.environ.get("DVC_TEST_DATABASE_URL"), reason="PostgreSQL run only")
def test_the_start_notice_migration_marks_started_mandates_on_postgresql() -> None:
    with scratch_postgresql("dvc_mandate_starts") as url:
        asyncio.run(_check(url))

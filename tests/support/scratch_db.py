"""A PostgreSQL database of a test's own, on the server of DVC_TEST_DATABASE_URL, for tests that migrate one from
scratch (the suite's database is already at head)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_postgresql(prefix: str) -> Iterator[str]:
    """Create `<prefix>_<random>`, yield its SQLAlchemy URL, drop it afterwards (connections forced off)."""
    import asyncpg

    server = os.environ["DVC_TEST_DATABASE_URL"]
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = server.replace("postgresql+asyncpg://", "postgresql://")

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

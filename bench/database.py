"""The throwaway PostgreSQL database of one bench run: created, migrated, seeded, and always dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from bench.anchors import Anchor

ROOT = Path(__file__).resolve().parents[1]
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USERS = ("postgres", "root")  # trust auth on loopback, as .ci/run sets it up
CONNECT_TIMEOUT_S = 5
MIGRATE_TIMEOUT_S = 120


class BenchDatabaseError(RuntimeError):
    pass


def dsn(user: str, database: str) -> str:
    return f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{database}"


async def find_user() -> str:
    """The first of postgres/root that can connect to the server with trust auth."""
    errors = []
    for user in PG_USERS:
        try:
            connection = await asyncpg.connect(dsn(user, "postgres"), timeout=CONNECT_TIMEOUT_S)
        except (OSError, asyncpg.PostgresError) as error:
            errors.append(f"{user}: {error}")
            continue
        await connection.close()
        return user
    raise BenchDatabaseError(f"PostgreSQL on {PG_HOST}:{PG_PORT} refused every user ({'; '.join(errors)}); "
                             "start it as .ci/run does")


class BenchDatabase:
    def __init__(self, user: str, name: str) -> None:
        self.user = user
        self.name = name
        self.created = False

    @property
    def dsn(self) -> str:
        return dsn(self.user, self.name)

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@{PG_HOST}:{PG_PORT}/{self.name}"

    async def _admin(self, sql: str) -> None:
        connection = await asyncpg.connect(dsn(self.user, "postgres"), timeout=CONNECT_TIMEOUT_S)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def create(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        self.created = True

    async def drop(self) -> None:
        if self.created:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False

    def migrate(self) -> None:
        """`alembic upgrade heads` exactly as `make run` does, against this database."""
        env = {**os.environ, "DVC_DATABASE_URL": self.sqlalchemy_url, "DVC_ENV": "test"}
        alembic = Path(sys.executable).with_name("alembic")
        done = subprocess.run([str(alembic), "upgrade", "heads"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=MIGRATE_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise BenchDatabaseError(f"alembic upgrade heads failed:\n{done.stdout}{done.stderr}")

    async def prepare_anchor(self, anchor: Anchor) -> None:
        if not anchor.ddl:
            return
        connection = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S)
        try:
            await connection.execute(anchor.ddl)
            if anchor.seed:
                await connection.execute(anchor.seed)
        finally:
            await connection.close()

"""Where the schema's migrations live, and `dvc migrate`.

The migrations ship inside the package (`app/migrations`), so an installed service (a wheel, the image) can
check and upgrade its own schema without the source tree or `alembic.ini`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's configuration without a file; the URL is DVC_DATABASE_URL unless given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


@lru_cache
def migration_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def register(cli: typer.Typer) -> None:
    @cli.command("migrate")
    def migrate() -> None:
        """Upgrade the database (DVC_DATABASE_URL) to the newest schema; a no-op when it is there already."""
        from alembic import command

        command.upgrade(alembic_config(), "heads")
        typer.echo(f"database at {', '.join(sorted(migration_heads()))}")

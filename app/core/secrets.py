"""Secrets the service must keep usable but not readable at rest (webhook signing keys, agencies' document signing
keys), encrypted with Fernet.

A webhook's HMAC key cannot be stored as a hash: the service signs with the key itself. It is stored encrypted
(AES-128-CBC + HMAC-SHA256, Fernet) under `DVC_SECRETS_KEYS`, so a database dump or backup does not hand out the
keys that integrators trust. Several comma-separated keys allow rotation: the first encrypts, any decrypts;
`dvc secrets rotate` re-encrypts every stored secret under the first key, after which old keys can be dropped.
`dvc secrets new-key` prints a fresh key. Development and tests use a public default key, which prod refuses.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from app.core.settings import get_settings

if TYPE_CHECKING:
    import typer

FERNET_PREFIX = "gAAAA"  # every Fernet token starts with its version byte and timestamp, base64url-encoded


@lru_cache(maxsize=8)
def _box(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys.split(",")])  # normalised by the settings


def box() -> MultiFernet:
    return _box(get_settings().secrets_keys)


def encrypt(plaintext: str) -> str:
    return box().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise RuntimeError("a stored secret does not decrypt with any of DVC_SECRETS_KEYS (a key was dropped "
                           "before `dvc secrets rotate`, or the value was written in clear)") from None


class EncryptedText(TypeDecorator[str]):
    """A text column holding a Fernet token; Python sees the plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


def register(cli: typer.Typer) -> None:
    import typer

    secrets_cli = typer.Typer(no_args_is_help=True,
                              help="Keys for secrets stored encrypted (webhook keys, agencies' signing keys).")
    cli.add_typer(secrets_cli, name="secrets")

    @secrets_cli.command("new-key")
    def new_key() -> None:
        """Print a fresh key for DVC_SECRETS_KEYS (put it first; keep the old ones after it until rotated)."""
        typer.echo(Fernet.generate_key().decode())

    @secrets_cli.command("rotate")
    def rotate() -> None:
        """Re-encrypt every stored secret under the first of DVC_SECRETS_KEYS."""
        import asyncio

        typer.echo(f"re-encrypted {asyncio.run(rotate_all())} stored secret(s)")


async def rotate_all() -> int:
    """Re-encrypt the raw value of every `EncryptedText` column of every table under the first key."""
    from app.core.db import build_null_pool_engine
    from app.core.registry import load_all_models

    engine = build_null_pool_engine(get_settings())
    rotated = 0
    try:
        async with engine.begin() as connection:
            for table in load_all_models().sorted_tables:
                columns = [c.name for c in table.columns if isinstance(c.type, EncryptedText)]
                if not columns:
                    continue
                keys = [c.name for c in table.primary_key.columns]
                raw = sa.table(table.name, *(sa.column(k) for k in keys), *(sa.column(c, Text) for c in columns))
                for row in (await connection.execute(sa.select(raw))).mappings().all():
                    values = {c: box().rotate(row[c].encode()).decode() for c in columns if row[c] is not None}
                    where = [raw.c[k] == row[k] for k in keys]
                    await connection.execute(sa.update(raw).where(*where).values(**values))
                    rotated += len(values)
    finally:
        await engine.dispose()
    return rotated

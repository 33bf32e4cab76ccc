"""`dvc storage gc`: remove stored files no attachment refers to, and abandoned staging files.

Only files older than the grace period (default one hour) are touched, so an upload that has placed its
file but not yet committed its row is never collected.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import typer
from sqlalchemy import select

from app.core import clock
from app.core.db import build_null_pool_engine
from app.core.settings import get_settings
from app.dossiers.models import Attachment
from app.dossiers.storage import BlobStore, get_store

GRACE = timedelta(hours=1)


@dataclass
class GcResult:
    removed_blobs: int = 0
    removed_staging: int = 0
    kept: int = 0


async def collect_garbage(store: BlobStore | None = None, *, older_than: timedelta = GRACE,
                          now: datetime | None = None, dry_run: bool = False) -> GcResult:
    store = store or get_store()
    cutoff = (now or clock.now()) - older_than
    engine = build_null_pool_engine(get_settings())
    try:
        async with engine.connect() as connection:
            referenced = set((await connection.execute(select(Attachment.storage_key).distinct())).scalars())
    finally:
        await engine.dispose()
    result = GcResult()
    for blob in list(store.blobs()):
        if blob.key in referenced or blob.modified_at > cutoff:
            result.kept += 1
            continue
        # Listed as old and unreferenced, but the same content may have been uploaded since: the store removes
        # it only if it is still untouched (placing touches it), checked after moving it aside.
        if not dry_run and not await store.remove_stale(blob.key, cutoff):
            result.kept += 1
            continue
        result.removed_blobs += 1
    for staged in list(store.staged()):
        if staged.modified_at <= cutoff:
            if not dry_run:
                await asyncio.to_thread(_unlink, staged.key)
            result.removed_staging += 1
    return result


def _unlink(path: str) -> None:
    from pathlib import Path

    Path(path).unlink(missing_ok=True)


def register(cli: typer.Typer) -> None:
    storage = typer.Typer(no_args_is_help=True, help="Attachment file storage.")

    @storage.command("gc")
    def gc(dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be removed."),
           older_than_minutes: int = typer.Option(60, min=1, help="Grace period in minutes.")) -> None:
        """Remove stored files no attachment refers to, older than the grace period."""
        result = asyncio.run(collect_garbage(older_than=timedelta(minutes=older_than_minutes), dry_run=dry_run))
        verb = "would remove" if dry_run else "removed"
        typer.echo(f"storage gc: {verb} {result.removed_blobs} unreferenced file(s) and "
                   f"{result.removed_staging} staging file(s); kept {result.kept}")

    cli.add_typer(storage, name="storage")

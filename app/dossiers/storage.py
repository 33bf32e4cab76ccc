"""Where attachment bytes live: a small interface, and the local-disk store behind it.

Files are content-addressed by SHA-256, so the same document uploaded twice is stored once and a stored
file never changes. An upload is first written to a staging file (on the same disk, so that placing it is an
atomic rename), fsynced, then renamed into place; only then is the attachment row written. A crash between
the two leaves an unreferenced file, which `dvc storage gc` removes once it is older than an hour.

An S3-compatible store would implement the same protocol: stage locally, `place` uploads the staged file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread

from app.core.settings import get_settings

CHUNK = 256 * 1024


@dataclass(frozen=True)
class StoredBlob:
    key: str
    modified_at: datetime


class BlobStore(Protocol):
    """Storage of immutable, content-addressed files."""

    def staging_file(self) -> Path:
        """A fresh path for a temporary upload file (not yet created)."""

    async def place(self, staged: Path, sha256: str) -> tuple[str, bool]:
        """Move a fully written, fsynced staging file into the store; (storage key, newly created)."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes, in chunks."""

    async def exists(self, key: str) -> bool: ...

    async def remove_stale(self, key: str, cutoff: datetime) -> bool:
        """Remove the file unless it was placed or touched after `cutoff` (then False), safely against a
        concurrent `place` of the same content."""

    def blobs(self) -> Iterator[StoredBlob]:
        """Every stored file (for garbage collection)."""

    def staged(self) -> Iterator[StoredBlob]:
        """Every staging file (left by crashed uploads), keyed by path."""


def blob_key(sha256: str) -> str:
    """`sha256/ab/cd/abcd...`: two fan-out levels keep directories small."""
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


class LocalDiskStore:
    """Files under `root` (DVC_STORAGE_DIR); staging files in `root/tmp`, on the same filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging_dir = root / "tmp"

    def staging_file(self) -> Path:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        return self.staging_dir / f"upload-{uuid.uuid4().hex}.part"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key.startswith("sha256/") or self.root.resolve() not in path.parents:
            raise ValueError("invalid storage key")
        return path

    def _place_sync(self, staged: Path, sha256: str) -> tuple[str, bool]:
        key = blob_key(sha256)
        target = self._path(key)
        if target.exists():
            # Same content already stored: keep the existing file (touched, so that it does not look old to the
            # garbage collector) and drop the copy; unless the collector took it away meanwhile.
            try:
                os.utime(target)
            except FileNotFoundError:
                pass
            else:
                staged.unlink(missing_ok=True)
                return key, False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        _fsync_dir(target.parent)
        return key, True

    async def place(self, staged: Path, sha256: str) -> tuple[str, bool]:
        return await anyio.to_thread.run_sync(self._place_sync, staged, sha256)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self._path(key), "rb") as handle:
            while chunk := await handle.read(CHUNK):
                yield chunk

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self._path(key)).exists()

    async def remove_stale(self, key: str, cutoff: datetime) -> bool:
        return await anyio.to_thread.run_sync(self._remove_stale_sync, key, cutoff)

    def _remove_stale_sync(self, key: str, cutoff: datetime) -> bool:
        # Moved aside first (an atomic rename): from then on `place` of the same content finds no file and puts
        # its own copy there. Touched before the move means referenced again: put back (same bytes either way).
        # A crash in between leaves the file in staging, where old staging files are collected anyway.
        target = self._path(key)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        aside = self.staging_dir / f"gc-{uuid.uuid4().hex}"
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return True
        if _mtime(aside) > cutoff:
            os.replace(aside, target)
            return False
        aside.unlink()
        return True

    def blobs(self) -> Iterator[StoredBlob]:
        base = self.root / "sha256"
        if not base.exists():
            return
        for path in base.rglob("*"):
            if path.is_file():
                yield StoredBlob(str(path.relative_to(self.root)), _mtime(path))

    def staged(self) -> Iterator[StoredBlob]:
        if not self.staging_dir.exists():
            return
        for path in self.staging_dir.iterdir():
            if path.is_file():
                yield StoredBlob(str(path), _mtime(path))


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX: the directory entry must be flushed too)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def get_store() -> BlobStore:
    """The configured store (read each call so tests may point DVC_STORAGE_DIR elsewhere)."""
    return LocalDiskStore(Path(get_settings().storage_dir))

"""Start-up and readiness checks of what the database URL and DVC_STORAGE_DIR point at."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.core.settings import SettingsError, get_settings

PROBLEM = "application/problem+json"


def _not_a_directory(tmp_path: Path) -> Path:
    """A storage path that cannot be created, even by root: its parent is a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    return blocker / "files"


def test_the_app_creates_a_missing_storage_directory(tmp_path: Path, settings_env: Callable[..., None]) -> None:
    from app.main import create_app

    storage = tmp_path / "new" / "files"
    settings_env(DVC_STORAGE_DIR=str(storage))
    create_app()
    assert storage.is_dir() and list(storage.iterdir()) == []  # the write probe left nothing behind


def test_the_app_refuses_to_start_on_storage_it_cannot_write(tmp_path: Path, settings_env: Callable[..., None]) -> None:
    from app.main import create_app

    settings_env(DVC_STORAGE_DIR=str(_not_a_directory(tmp_path)))
    with pytest.raises(SettingsError, match=r"^invalid setting DVC_STORAGE_DIR: cannot write in .*blocker/files"):
        create_app()


def test_the_openapi_export_needs_no_storage(tmp_path: Path, settings_env: Callable[..., None]) -> None:
    """`dvc openapi` (make openapi) runs from a read-only checkout: it neither makes nor probes DVC_STORAGE_DIR,
    here under a read-only directory (root may write there anyway: then nothing may appear in it either)."""
    from app.cli import export_openapi

    read_only = tmp_path / "checkout"
    read_only.mkdir()
    read_only.chmod(0o555)
    output = tmp_path / "openapi.json"
    settings_env(DVC_STORAGE_DIR=str(read_only / "var" / "files"))
    try:
        export_openapi(output=str(output))
    finally:
        read_only.chmod(0o755)
    assert list(read_only.iterdir()) == []
    assert "/v1/procedures/{code}/versions/{n}/publish" in json.loads(output.read_text(encoding="utf-8"))["paths"]


async def test_readiness_fails_when_storage_is_not_writable(client: httpx.AsyncClient, tmp_path: Path,
                                                            settings_env: Callable[..., None]) -> None:
    settings_env(DVC_STORAGE_DIR=str(_not_a_directory(tmp_path)))
    response = await client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM and response.headers["retry-after"] == "5"
    assert response.json()["code"] == "not_ready" and "DVC_STORAGE_DIR" in response.json()["detail"]
    assert "blocker" not in response.text  # the path is for the log, not for whoever probes
    missing = tmp_path / "gone"  # a vanished directory (an unmounted volume?) is not recreated by the probe
    settings_env(DVC_STORAGE_DIR=str(missing))
    assert (await client.get("/readyz")).status_code == 503
    assert not missing.exists()


async def test_readiness_reports_the_storage(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["storage"] == "ok"


async def test_readiness_never_creates_a_missing_sqlite_database(client: httpx.AsyncClient, tmp_path: Path,
                                                                 settings_env: Callable[..., None],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core import ops
    from app.core.db import Database

    missing = tmp_path / "never-migrated.db"
    settings_env(DVC_DATABASE_URL=f"sqlite+aiosqlite:///{missing}")
    database = Database(get_settings())  # the engines a process started with this URL would have
    monkeypatch.setattr(ops, "get_database", lambda: database)
    try:
        response = await client.get("/readyz")
    finally:
        await database.dispose()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "not_ready" and response.headers["retry-after"] == "5"
    assert not missing.exists()

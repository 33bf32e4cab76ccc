"""An installed service (wheel or image) carries everything it reads at run time: its data files and its
migrations, which readiness and `dvc migrate` need without the source tree."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from setuptools import find_namespace_packages

import app
from app.core.migrations import MIGRATIONS_DIR, migration_heads

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(app.__file__).resolve().parent


def _setuptools_config() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _source_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_the_migrations_are_inside_the_package() -> None:
    assert MIGRATIONS_DIR.is_relative_to(PACKAGE)
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert len(migration_heads()) == 1


def test_every_python_folder_is_a_package_the_build_finds() -> None:
    found = set(find_namespace_packages(str(ROOT), **_setuptools_config()["packages"]["find"]))
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in _source_files() if p.suffix == ".py"}
    assert folders - found == set(), "add these folders to [tool.setuptools.packages.find]"


def test_every_data_file_is_package_data() -> None:
    patterns = _setuptools_config()["package-data"]["app"]
    data = [p.relative_to(PACKAGE).as_posix() for p in _source_files() if p.suffix not in (".py", ".pyc")]
    # setuptools' "**/" also matches the package's own folder, which fnmatch's does not.
    unmatched = [f for f in data if not any(fnmatch.fnmatch(f, p) or fnmatch.fnmatch(f, p.removeprefix("**/"))
                                            for p in patterns)]
    assert data and unmatched == [], "add these to [tool.setuptools.package-data] or the wheel goes without them"


def test_dvc_migrate_brings_an_empty_database_to_the_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "DVC_DATABASE_URL": url, "DVC_ENV": "test"}
    dvc = [sys.executable, "-c", "from app.cli import main; main()", "migrate"]
    # From another folder: the command must not depend on alembic.ini or the working directory.
    first = subprocess.run(dvc, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    head = next(iter(migration_heads()))
    assert first.stdout.strip() == f"database at {head}"
    again = subprocess.run(dvc, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "fresh.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]

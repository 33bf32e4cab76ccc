"""`dvc` commands given what operators actually give them: an unmigrated or unreachable database, a file that is
not what it should be, a misspelt task. Each must end non-zero with one line on stderr, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as probe:  # bound then released: nothing listens there afterwards
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dvc(tmp_path: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DVC_ENV": "test", "DVC_LOG_LEVEL": "WARNING",
           "DVC_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
           "DVC_STORAGE_DIR": str(tmp_path / "files"), "DVC_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str, *, code: int = 1) -> None:
    assert result.returncode == code, result.stderr
    # Log lines (JSON, a failed worker task's trace inside) may come first; the command's own word is one line.
    plain = [line for line in result.stderr.strip().splitlines() if not line.startswith("{")]
    assert len(plain) == 1 and expected in plain[0], result.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (("catalogue", "export"), "not migrated"),
    (("create-admin", "--issuer", "https://sso.example.vn", "--subject", "admin"), "not migrated"),
    (("storage", "gc"), "not migrated"),
    (("secrets", "rotate"), "not migrated"),
    (("catalogue", "export", "--unreachable"), "cannot reach the database"),
    (("openapi", "--output", "/nonexistent-dir/openapi.json"), "No such file or directory"),
])
def test_environment_failures_are_one_line_not_a_traceback(tmp_path: Path, args: tuple[str, ...],
                                                           expected: str) -> None:
    database_url = None
    if "--unreachable" in args:
        args = tuple(a for a in args if a != "--unreachable")
        database_url = f"postgresql+asyncpg://dvc@127.0.0.1:{_closed_port()}/dvc"
    assert_one_line(dvc(tmp_path, *args, database_url=database_url), expected)


@pytest.mark.parametrize(("content", "expected"), [
    pytest.param(b"\xff\xfe{\x00}\x00", "is not UTF-8 text", id="utf-16"),
    pytest.param(b"[" * 100_000, "nests too deeply", id="deep-nesting"),
])
def test_catalogue_import_refuses_a_file_that_is_not_json_text(tmp_path: Path, content: bytes,
                                                              expected: str) -> None:
    document = tmp_path / "catalogue.json"
    document.write_bytes(content)
    assert_one_line(dvc(tmp_path, "catalogue", "import", str(document)), expected)


def test_worker_refuses_an_unknown_task_name(tmp_path: Path) -> None:
    result = dvc(tmp_path, "worker", "--once", "--only", "reporting.capture_open_count")
    assert_one_line(result, "unknown task(s) reporting.capture_open_count", code=2)


def test_worker_once_exits_non_zero_when_a_task_fails(tmp_path: Path) -> None:
    result = dvc(tmp_path, "worker", "--once", "--only", "reporting.capture_open_counts")
    assert_one_line(result, "1 task(s) failed: reporting.capture_open_counts")

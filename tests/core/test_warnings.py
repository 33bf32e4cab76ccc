"""The test run's output stays free of third-party warnings we cannot act on, and only of those."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_pytest_with_our_config(tmp_path: Path, test_source: str) -> str:
    """Run pytest, configured by our pyproject.toml, on a one-file suite outside tests/ (no conftest)."""
    (tmp_path / "test_probe.py").write_text(test_source)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:randomly", str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_pyhankos_dsa_import_warning_is_filtered_and_other_dsa_warnings_are_not(tmp_path: Path) -> None:
    output = _run_pytest_with_our_config(tmp_path, (
        "import warnings\n"
        "from cryptography.utils import CryptographyDeprecationWarning\n"
        "import pyhanko.sign  # the tests' PKI helper imports pyHanko's signers\n\n"
        "def test_probe():\n"
        "    warnings.warn('DSA is deprecated (raised by our own code)', CryptographyDeprecationWarning)\n"))
    assert "pyhanko/sign/signers/pdf_cms.py" not in output
    assert "DSA is deprecated (raised by our own code)" in output  # the filter names pyHanko's module only

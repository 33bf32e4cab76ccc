"""Workflow tests: the `flow` fixture (tests/support/workflow_fixtures.py, shared with the notification and
reporting tests) and a PKI for signed results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.workflow.pki import Pki, make_pki


@pytest.fixture
def pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A CA trusted by the service (DVC_SIGNATURE_TRUST_ROOTS) and a signer it issued."""
    from app.core.settings import get_settings

    made: Pki = make_pki(tmp_path)
    monkeypatch.setenv("DVC_SIGNATURE_TRUST_ROOTS", str(made.ca_path))
    get_settings.cache_clear()
    yield made
    monkeypatch.delenv("DVC_SIGNATURE_TRUST_ROOTS")
    get_settings.cache_clear()

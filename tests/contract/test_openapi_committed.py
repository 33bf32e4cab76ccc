"""The committed contract matches the app, is the same in every environment, and is well formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.settings import get_settings
from app.main import create_app

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def _spec_for(env: str, monkeypatch: pytest.MonkeyPatch) -> dict:  # type: ignore[type-arg]
    monkeypatch.setenv("DVC_ENV", env)
    get_settings.cache_clear()
    try:
        return create_app().openapi()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_committed_spec_matches_the_app(app) -> None:  # type: ignore[no-untyped-def]
    committed = json.loads(SPEC.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(app.openapi())), "openapi/openapi.json is stale: run `make openapi`"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_spec_is_identical_in_every_environment(app, env: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DVC_OIDC_ISSUER", "https://sso.example.gov.vn")
    monkeypatch.setenv("DVC_FAKEPAY_SECRET", "a-production-secret")
    monkeypatch.setenv("DVC_SECRETS_KEYS", "cHJvZHVjdGlvbi1rZXktZm9yLXRoZS10ZXN0LW9ubHk=")
    assert _spec_for(env, monkeypatch) == app.openapi()


def test_every_operation_is_documented(app) -> None:  # type: ignore[no-untyped-def]
    spec = app.openapi()
    assert "servers" not in spec
    seen: set[str] = set()
    for path, item in spec["paths"].items():
        assert not path.startswith("/dev"), "dev-only routes must stay out of the spec"
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert operation["operationId"] not in seen, f"duplicate operationId at {where}"
            seen.add(operation["operationId"])
            assert operation.get("tags"), where
            assert operation.get("summary"), where
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response.get("content", {})) == ["application/problem+json"], f"{where} {status}"

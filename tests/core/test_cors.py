"""DVC_CORS_ALLOW_ORIGINS: a portal front end on another origin can call the API from a browser (it could not: no
route answered a preflight, and no answer carried Access-Control-Allow-Origin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.settings import SettingsError, get_settings
from app.main import create_app

FRONT_END = "http://localhost:5173"


@pytest.fixture
async def cors_client(database_url: str, settings_env: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings_env(DVC_CORS_ALLOW_ORIGINS=f"{FRONT_END}, https://dichvucong.example.gov.vn")
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_preflight_from_an_allowed_origin_is_answered(cors_client: httpx.AsyncClient) -> None:
    preflight = await cors_client.options("/v1/dossiers/00000000-0000-0000-0000-000000000000/transitions", headers={
        "Origin": FRONT_END, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == FRONT_END
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in ("authorization", "if-match", "if-none-match", "idempotency-key",
                                      "x-on-behalf-of"))
    refused = await cors_client.options("/v1/procedures", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in refused.headers


async def test_answers_and_problems_expose_what_a_front_end_reads(cors_client: httpx.AsyncClient) -> None:
    listed = await cors_client.get("/v1/procedures", headers={"Origin": FRONT_END})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == FRONT_END
    exposed = listed.headers["access-control-expose-headers"].lower()
    assert all(h in exposed for h in ("etag", "location", "x-request-id", "retry-after", "idempotent-replayed"))
    problem = await cors_client.get("/v1/accounts/me", headers={"Origin": FRONT_END})
    assert problem.status_code == 401 and problem.headers["access-control-allow-origin"] == FRONT_END


async def test_without_the_setting_there_are_no_cors_headers(client: httpx.AsyncClient) -> None:
    assert get_settings().cors_allow_origins == ""
    listed = await client.get("/v1/procedures", headers={"Origin": FRONT_END})
    assert "access-control-allow-origin" not in listed.headers


@pytest.mark.parametrize("value", ["localhost:5173", "http://localhost:5173/", "https://a.example/app", "ftp://x"])
def test_an_entry_that_is_not_an_origin_stops_the_start(settings_env: Any, value: str) -> None:
    settings_env(DVC_CORS_ALLOW_ORIGINS=value)
    with pytest.raises(SettingsError, match="DVC_CORS_ALLOW_ORIGINS"):
        get_settings()

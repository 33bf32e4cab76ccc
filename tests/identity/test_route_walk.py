"""Walk every route of the app: anything not on the public allow-list must refuse a request without a token.

So a route added later cannot forget the gate (Decree 45/2020 Art. 7). Public routes live in one place,
app/identity/public_routes.py.
"""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from app.identity.public_routes import PUBLIC_ROUTES, is_public

DUMMY = "00000000-0000-4000-8000-000000000000"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", DUMMY, path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD" and path:
                found.append((method, path))
    return found


async def test_every_non_public_route_needs_a_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    routes = _routes(app)
    assert ("POST", "/v1/accounts") in routes  # the walk sees routes inside included routers
    open_routes = []
    for method, path in routes:
        if is_public(method, path):
            continue
        response = await client.request(method, _concrete(path), headers={"content-type": "application/json"},
                                        content=b"{}")
        if response.status_code != 401 or response.json().get("code") != "token_missing":
            open_routes.append(f"{method} {path} -> {response.status_code}")
    assert not open_routes, "routes reachable without a token:\n" + "\n".join(open_routes)


async def test_a_garbage_token_is_refused_everywhere_too(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Bearer not.a.token", "content-type": "application/json"}
    for method, path in _routes(app):
        if is_public(method, path):
            continue
        response = await client.request(method, _concrete(path), headers=headers, content=b"{}")
        assert response.status_code == 401, f"{method} {path}"
        assert response.json()["code"] == "token_invalid"


def test_allow_list_names_only_read_or_callback_routes() -> None:
    """A public write would be a hole: only GETs, plus signed provider callbacks, may be public."""
    for method, path in PUBLIC_ROUTES:
        assert method == "GET" or path.endswith("/callback"), (method, path)


async def test_non_public_routes_are_documented_as_secured(app: FastAPI) -> None:
    schema = app.openapi()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or is_public(method, path):
                continue
            assert operation.get("security"), f"{method.upper()} {path} is not marked as secured"
            assert "401" in operation["responses"]

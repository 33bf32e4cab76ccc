"""How requests reach the routes (one flat list, no dependency in FastAPI's thread pool) and what start-up sets."""

from __future__ import annotations

import asyncio
import gc
import inspect
import re
from typing import Any

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route

from app.core.routing import IndexedDispatch
from app.main import create_app


def _sync_dependencies(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    for sub in dependant.dependencies:
        call: Any = sub.call
        target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
        if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            found.add(getattr(call, "__qualname__", repr(call)))
        found |= _sync_dependencies(sub)
    return found


def test_routes_are_one_flat_list() -> None:
    """Nested routers are matched twice per request at every level (app.core.routing.include_flat)."""
    routes = create_app().router.routes
    assert routes and all(type(route) in (APIRoute, Route) for route in routes)
    paths = {route.path for route in routes if isinstance(route, APIRoute)}
    assert {"/v1/public/dossiers/{code}", "/v1/officials", "/v1/dossiers/{dossier_id}/transitions",
            "/dev/fakepay/checkout/{ref}", "/v1/accounts/me/notification-preferences"} <= paths


def test_the_prefix_check_answers_as_full_matching_for_every_route_and_path() -> None:
    """app.core.routing._reject_by_prefix only saves work: every route answers every route's path (and its
    slash-redirect twin, and a few near misses) as FastAPI's own matching does."""
    routes = [route for route in create_app().router.routes if isinstance(route, APIRoute)]
    paths = {"/", "/v1", "/v1/", "/v1/dossiersx", "/v1/public/dossiers/"}
    for route in routes:
        path = re.sub(r"{[^}]+}", "x1", route.path_format)
        paths |= {path, path + "/", path.rstrip("/"), path + "/extra"}
    for path in sorted(paths):
        for method in ("GET", "POST"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method}
            for route in routes:
                assert route.matches(dict(scope)) == APIRoute.matches(route, dict(scope)), (route.path, path)


def _chosen(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    """The route Starlette's walk hands the request to: the first full match, else the first partial one."""
    partial = None
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def test_the_route_index_picks_the_route_the_full_walk_picks() -> None:
    """app.core.routing.IndexedDispatch tries a few routes instead of all: for every route's path (and near
    misses, other methods, a route added after start-up) it must choose what Starlette's walk chooses, and a
    path it has no candidate for must be one the walk has no route for either (it then walks, for the 404 or
    the slash redirect)."""
    app = create_app()

    @app.get("/v1/{anything}/added-late")
    async def added_late() -> None: ...

    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    routes = app.router.routes
    paths = {"/", "/v1", "/v1/", "/v1/x/added-late", "/v1/dossiersx", "/v1/public/dossiers/", "/healthz/",
             "/docs", "/openapi.json", "/nowhere/at/all"}
    for route in routes:
        path = re.sub(r"{[^}]+}", "x1", getattr(route, "path_format", "/"))
        paths |= {path, path + "/", path.rstrip("/"), path + "/extra", path.replace("/v1/", "/v2/")}
    tried = 0
    for path in sorted(paths):
        for method in ("GET", "POST", "PATCH", "DELETE"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method}
            candidates = dispatch.candidates(dict(scope))
            tried += len(candidates)
            assert _chosen(candidates, scope) is _chosen(routes, scope), (method, path)
    assert tried < len(paths) * 4 * len(routes) / 4  # and it does try far fewer


def test_no_dependency_runs_in_the_thread_pool() -> None:
    """A plain `def` dependency costs a thread hop on every request (list pages were 17-32% slower)."""
    sync = {name for route in create_app().routes if isinstance(route, APIRoute)
            for name in _sync_dependencies(route.dependant)}
    assert sync == set()


def test_start_up_moves_long_lived_objects_out_of_the_collector() -> None:
    """A full collection over everything built at start-up stalled the event loop ~70 ms under load."""
    app = create_app()

    async def start_and_stop() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    gc.unfreeze()
    try:
        assert asyncio.run(start_and_stop()) > 50_000
    finally:
        gc.unfreeze()


async def test_a_route_replaced_by_another_of_the_same_path_is_served() -> None:
    """The index is rebuilt when a route is replaced, not only when the number of routes changes."""
    app = create_app(serving=False)

    @app.get("/scratch/one")
    async def one() -> dict[str, str]:
        return {"r": "one"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/scratch/one")).json() == {"r": "one"}
        app.router.routes.pop()

        @app.get("/scratch/one")
        async def two() -> dict[str, str]:
            return {"r": "two"}

        assert (await client.get("/scratch/one")).json() == {"r": "two"}


async def test_requests_fastapi_observes_go_through_its_own_dispatch() -> None:
    """FastAPI's dispatch records the matched route for its native OpenTelemetry (and applies router form
    limits): a request carrying its telemetry state is handed to it whole, not to the index."""
    app = create_app(serving=False)
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    walked: list[str] = []

    async def walk_all(scope: Any, receive: Any, send: Any) -> None:
        walked.append(scope["path"])

    dispatch.walk_all = walk_all

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_message: Any) -> None: ...

    scope = {"type": "http", "method": "GET", "path": "/healthz", "root_path": "", "headers": [],
             "query_string": b"", "fastapi.telemetry": object()}
    await dispatch(scope, receive, send)
    assert walked == ["/healthz"]

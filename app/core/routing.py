"""Routers joined flat: one list of routes, matched once per request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route, Router, get_route_path
from starlette.types import Receive, Scope, Send

from app.core.problems import ProblemError


def include_flat(parent: APIRouter, *children: APIRouter,
                 unique_id: Callable[[APIRoute], str] | None = None) -> None:
    """Append the children's routes, in order, to `parent`'s own list, instead of `include_router`.

    FastAPI (0.16x) keeps an included router as a nested matcher that is walked twice per request (to match,
    then to dispatch), with per-route context bookkeeping at every level; with ~90 routes under three levels
    of routers that was 6-9% of a request's CPU (`python -m bench.inprocess`, bench/PROFILE.md). A flat list is
    matched once, route by route, as Starlette does. Our routers set their prefix and tags in the constructor,
    which FastAPI applies to each route when it is declared, so nothing is lost; call this after the children's
    routes are declared (it copies the list as it is then). Router lifespans are not merged: the app's lifespan
    runs them (app.main). `unique_id` names each route's operation (as the app's generate_unique_id_function
    does for included routers).
    """
    for child in children:
        for route in child.routes:
            if isinstance(route, APIRoute):
                if unique_id is not None:
                    route.unique_id = unique_id(route)
                _reject_by_prefix(route)
                _require_json_content(route)
                _refuse_unchecked_if_match(route)
            parent.routes.append(route)


def _reject_by_prefix(route: APIRoute) -> None:
    """Answer "no match" for a path that does not start with the route's literal prefix (its path up to the
    first parameter) before FastAPI's and Starlette's matching, which look up the route context, read the
    scope's path and run the route's regex. The router tries routes in order until one matches, so most
    routes see most requests: matching the public tracking path over the 89 routes went from 50 to 28 us in
    process (under load the gain is within the machine's noise; bench/PROFILE.md, session 6). A regex match
    needs that literal prefix, so no answer changes."""
    prefix = route.path_format.split("{", 1)[0]
    full_match = route.matches

    def matches(scope: Scope) -> tuple[Match, Any]:
        if scope["type"] == "http" and not get_route_path(scope).startswith(prefix):
            return Match.NONE, {}
        return full_match(scope)

    route.matches = matches  # type: ignore[method-assign]


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters aside: what FastAPI parses as JSON."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/")
                                                 and media_type.endswith("+json"))


def _require_json_content(route: APIRoute) -> None:
    """415 `media_type_not_allowed` for a body that is not declared JSON, on a route whose body is JSON.

    FastAPI hands such a body (text/plain, a form, no Content-Type at all) to validation as raw bytes, which
    answered 422 "Input should be a valid dictionary" for a body that may be perfectly good JSON: the client is
    told its fields are wrong when its Content-Type is (RFC 9110 §15.5.16). A request without a body is left to
    validation (422 for a required body), so is a route that reads its body itself (uploads, callbacks)."""
    body = route.body_field
    if body is None or isinstance(body.field_info, params.Form) or getattr(route.app, "json_only", False):
        return  # no JSON body, or already checked (a router joined into another, then into the app)
    inner = route.app

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        content_type = length = chunked = None
        for key, value in scope.get("headers", ()):
            if key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = value
        has_body = chunked is not None or (length is not None and length.strip() not in (b"", b"0"))
        if has_body and not (content_type is not None and is_json_media_type(content_type)):
            # RFC 9110 §12.5.1: Accept in a response names the types a request to this resource may send.
            raise ProblemError("media_type_not_allowed", "Send the body as JSON, with `Content-Type: "
                                                         "application/json`.", headers={"Accept": "application/json"})
        await inner(scope, receive, send)

    app.json_only = True  # type: ignore[attr-defined]
    route.app = app


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def checks_if_match(route: APIRoute) -> bool:
    """Whether the route reads `If-Match` (its resource has an ETag and the route compares it)."""
    return any(isinstance(field.field_info, params.Header) and field.alias.lower() == "if-match"
               for field in get_flat_params(route.dependant))


def _refuse_unchecked_if_match(route: APIRoute) -> None:
    """412 `precondition_failed` for an `If-Match` naming a tag, on a write route whose resource has no ETag.

    RFC 9110 §13.1.1: a server must evaluate If-Match before performing the method, and a tag can only match a
    current representation's ETag. Here no representation has one, so the condition is false; a route that went
    ahead would let a client believe its change was guarded against a concurrent one when it was not. `*` (any
    current representation) is true and passes. Routes that take If-Match compare it themselves (app.core.etag)."""
    if not (route.methods or set()) & UNSAFE_METHODS or checks_if_match(route) or getattr(route.app, "no_if_match",
                                                                                           False):
        return
    inner = route.app

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for key, value in scope.get("headers", ()):
            if key == b"if-match" and any(tag.strip() != b"*" for tag in value.split(b",")):
                raise ProblemError("precondition_failed", "This resource has no ETag, so no If-Match tag can name "
                                                          "its current state: send the request without If-Match.")
        await inner(scope, receive, send)

    app.no_if_match = True  # type: ignore[attr-defined]
    route.app = app


_INDEX_DEPTH = 2  # path segments a route's bucket is keyed by: "/v1/dossiers/..." -> ("v1", "dossiers")


def _route_key(route: BaseRoute) -> tuple[str, ...] | None:
    """The first path segments every path this route matches starts with, or None when it can match paths
    that start otherwise (a parameter among the first segments, or a route that is not a plain path route)."""
    if type(route) not in (APIRoute, Route):
        return None
    path_format: str = route.path_format  # type: ignore[attr-defined]
    literal, parameter, _ = path_format.partition("{")
    segments = literal.split("/")[1:]
    if parameter:
        segments = segments[:-1]  # the last one is cut by the parameter
    if len(segments) >= _INDEX_DEPTH:
        return tuple(segments[:_INDEX_DEPTH])
    return None if parameter else tuple(segments)  # a short path without parameters matches itself only


def _path_key(path: str) -> tuple[str, ...]:
    return tuple(path.split("/", _INDEX_DEPTH + 1)[1:_INDEX_DEPTH + 1])


class IndexedDispatch:
    """The router's dispatch, trying only the routes that could match the path, in the router's order.

    Starlette tries every route in turn until one matches: the public tracking route is the 52nd of ~96, and
    the walk cost it ~22 us of its ~250 us of CPU (`python -m bench.inprocess --raw-asgi`). Routes are
    bucketed by their first two path segments (routes with a parameter there are in every bucket), so a path
    meets a handful. The answer is the first full match, as in Starlette's walk, else a 405 (its `Allow` is made by
    app.core.problems), and a 405 too where a route without parameters has exactly this path but not this method
    (Starlette lets a parameter route take it); a path no route matches goes to the router's own dispatch (slash
    redirect, 404). FastAPI's
    dispatch also does things this one does not: it records the route for its native OpenTelemetry and applies
    the router's form limits; a request that needs either (an OpenTelemetry SDK is configured, form limits are
    set) goes to it whole. The buckets are rebuilt when the routes change (their number, or FastAPI's count of
    routes added: a route replaced by another)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.walk_all = router.app
        self._indexed: tuple[int, int] | None = None
        self._buckets: dict[tuple[str, ...], list[BaseRoute]] = {}
        self._unkeyed: list[BaseRoute] = []
        self._literal_methods: dict[str, set[str]] = {}  # path of a route without parameters -> its methods

    def _index(self) -> None:
        routes = list(self.router.routes)
        keys = [_route_key(route) for route in routes]
        self._buckets = {key: [route for route, other in zip(routes, keys, strict=True) if other in (key, None)]
                         for key in set(keys) if key is not None}
        self._unkeyed = [route for route, key in zip(routes, keys, strict=True) if key is None]
        self._literal_methods = {}
        for route in routes:
            path_format = getattr(route, "path_format", "{")
            if type(route) in (APIRoute, Route) and "{" not in path_format:
                self._literal_methods.setdefault(path_format, set()).update(getattr(route, "methods", None) or ())
        self._indexed = self._routes_state()

    def _routes_state(self) -> tuple[int, int]:
        return len(self.router.routes), getattr(self.router, "_routes_version", 0)

    def candidates(self, scope: Scope) -> list[BaseRoute]:
        if self._routes_state() != self._indexed:
            self._index()
        return self._buckets.get(_path_key(get_route_path(scope)), self._unkeyed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("fastapi.telemetry") is not None
                or getattr(self.router, "form_limits", None)):
            await self.walk_all(scope, receive, send)
            return
        scope.setdefault("router", self.router)
        partial: BaseRoute | None = None  # the first route matching the path but not the method
        candidates = self.candidates(scope)
        literal = self._literal_methods.get(get_route_path(scope))  # this path's own resource, if it is one
        for route in candidates:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if literal is not None and scope["method"] not in literal and "{" in getattr(route, "path_format", ""):
                    # A parameter route would take a path that names a resource of its own (GET on the POST-only
                    # `/v1/dossiers/intake` read "intake" as a dossier id: 422): that resource refuses the method.
                    raise HTTPException(405)  # app.core.problems names the resource's methods in `Allow`
                scope["route"] = route
                _update_scope(scope, child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = route  # a full match further on still wins, as in the walk
        if partial is not None:
            scope["route"] = partial  # as the walk sets it: metrics and logs name the path's template
            raise HTTPException(405)
        await self.walk_all(scope, receive, send)


def _update_scope(scope: Scope, child_scope: Scope) -> None:
    """The match's scope into the request's, FastAPI's own entries (`scope["fastapi"]`) merged, not replaced, as
    FastAPI's dispatch does."""
    own = child_scope.get("fastapi")
    if isinstance(own, dict):
        child_scope = {key: value for key, value in child_scope.items() if key != "fastapi"}
        scope.setdefault("fastapi", {}).update(own)
    scope.update(child_scope)

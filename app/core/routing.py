"""Routers joined flat: one list of routes, matched once per request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match, get_route_path
from starlette.types import Scope


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

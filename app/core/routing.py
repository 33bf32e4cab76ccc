"""Routers joined flat: one list of routes, matched once per request."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.routing import APIRoute


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
            if unique_id is not None and isinstance(route, APIRoute):
                route.unique_id = unique_id(route)
            parent.routes.append(route)

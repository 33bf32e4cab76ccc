"""Preconditions over HTTP that every route shares: conditional GET (RFC 9110 §13.1.2) and entity-tag lists.

A route whose `ETag` names its whole representation (a procedure's content hash, an agency's version, a stored
file's digest) answers an `If-None-Match` naming it with 304 and no body, through `not_modified`. It is each route's
choice, not a blanket rule: a dossier's ETag is its change counter, while its GET also shows what the clock and
the caller decide (overdue, next actions), so a 304 there would keep a stale view alive.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response
from starlette.types import ASGIApp, Receive, Scope, Send

IfNoneMatch = Annotated[str | None, Header(
    description="The ETag of a copy already held: 304 without a body while it is still the current one.")]
NOT_MODIFIED_RESPONSE: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` names the current `ETag` (no body)."}}


def none_match(if_none_match: str, etag: str) -> bool:
    """True when `If-None-Match` names `etag` or is `*`: the weak comparison (§13.1.2), so W/"1" names "1"."""
    tag = etag.strip().removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == tag for t in if_none_match.split(","))


def not_modified(if_none_match: str | None, etag: str) -> Response | None:
    """The 304 to answer instead of the representation, or None to answer it (RFC 9110 §15.4.5: with its ETag)."""
    if if_none_match is not None and none_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return None


# Lists of entity tags a client or a proxy may send as several field lines (RFC 9110 §5.3: the same as one line,
# the values joined by commas); a route's `Header()` reads the first line only, so a second `If-Match` was lost.
_LIST_FIELDS = (b"if-match", b"if-none-match")


class PreconditionListsMiddleware:
    """Pure ASGI, before routing: an `If-Match` or `If-None-Match` sent as several lines is handed on as one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = _one_line_per_list(scope)
        await self.app(scope, receive, send)


def _one_line_per_list(scope: Scope) -> Scope:
    headers = scope.get("headers", [])
    listed = [key for key, _ in headers if key in _LIST_FIELDS]  # one pass: every request comes through here
    repeated = {name for name in listed if listed.count(name) > 1}
    if not repeated:
        return scope
    joined = {name: b", ".join(value for key, value in headers if key == name) for name in repeated}
    kept = [(key, value) for key, value in headers if key not in joined]
    return {**scope, "headers": kept + list(joined.items())}

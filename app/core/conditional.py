"""Conditional GET (RFC 9110 §13.1.2, §15.4.5): a 200 whose `ETag` the request's `If-None-Match` names is a 304.

Routes send an `ETag` on their GET answers (dossiers, agencies, procedures and their versions, officials, clients)
so that a client or a cache can ask "has it changed?"; that question was answered with the whole body again. The
check is made here, on the answer a route gives, so every route that sends an ETag honours it alike: the route
still runs (its authorisation and its 404 come first), only the body is not sent. Before routing, an `If-Match`
or `If-None-Match` sent as several lines is made one, so that every route reads the whole list.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# RFC 9110 §15.4.5: a 304 carries the headers a 200 would have that describe the cached copy, and no content.
_KEPT_ON_304 = frozenset({b"etag", b"cache-control", b"content-location", b"date", b"expires", b"vary"})


def none_match(if_none_match: str, etag: str) -> bool:
    """True when `If-None-Match` names `etag` or is `*`: the weak comparison (§13.1.2), so W/"1" names "1"."""
    tag = etag.strip().removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == tag for t in if_none_match.split(","))


class ConditionalGetMiddleware:
    """Pure ASGI: turns a GET's (or HEAD's) 200 into a 304 when `If-None-Match` names its ETag; and hands the
    routes each precondition as one line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _one_line_per_list(scope)
        if_none_match = _header(scope, b"if-none-match")
        if if_none_match is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        not_modified = False

        async def send_conditionally(message: Message) -> None:
            nonlocal not_modified
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = message.get("headers", [])
                etag = next((value.decode("latin-1") for key, value in headers if key.lower() == b"etag"), None)
                if etag is not None and none_match(if_none_match, etag):
                    not_modified = True
                    message = {**message, "status": 304,
                               "headers": [(k, v) for k, v in headers if k.lower() in _KEPT_ON_304]}
            elif message["type"] == "http.response.body" and not_modified:
                if message.get("more_body", False):
                    return  # the body a 304 does not carry; the last (empty) message ends the answer
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, send_conditionally)


# Lists of entity tags a client or a proxy may send as several field lines (RFC 9110 §5.3: the same as one line,
# the values joined by commas); a route's `Header()` reads the first line only, so a second `If-Match` was lost.
_LIST_FIELDS = (b"if-match", b"if-none-match")


def _one_line_per_list(scope: Scope) -> Scope:
    headers = scope.get("headers", [])
    repeated = [name for name in _LIST_FIELDS if sum(1 for key, _ in headers if key == name) > 1]
    if not repeated:
        return scope
    joined = {name: b", ".join(value for key, value in headers if key == name) for name in repeated}
    kept = [(key, value) for key, value in headers if key not in joined]
    return {**scope, "headers": kept + list(joined.items())}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None

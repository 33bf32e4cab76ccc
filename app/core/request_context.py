"""Per-request context (request id) and the outermost middleware: ids, access logs, metrics, last-resort 500."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.routing import compile_path, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # fullmatch: `$` let a final newline through

log = logging.getLogger("app.access")


def current_request_id() -> str | None:
    return _request_id.get()


def route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics are not keyed by ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Pure ASGI (no body buffering, so streamed uploads stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from app.core import metrics  # local: metrics imports settings lazily
        from app.core.logging import access_line  # local: app.core.logging imports this module
        from app.core.problems import problem_body

        method = scope["method"]
        if method == "HEAD":
            # Our routes declare GET only, so HEAD was a 405 (RFC 9110: every GET resource answers HEAD). Serve it
            # as the GET it stands for and drop the body below; headers, Content-Length included, stay the GET's.
            scope = {**scope, "method": "GET"}
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        _request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        too_large = False
        if method in _BODY_METHODS:
            receive, too_large = _capped(scope, receive)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            elif method == "HEAD" and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            if too_large:
                await _answer(send_with_id, 413, problem_body(
                    "payload_too_large", instance=scope.get("path"),
                    detail=f"The request body is larger than {_body_cap()} bytes."))
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if response_started:
                raise
            await _answer(send_with_id, 500, problem_body(
                "internal_error", instance=scope.get("path"),
                detail="An unexpected error occurred; quote the request id when reporting it."))
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope)
            metrics.observe_request(method, route, status, duration)
            access_line(request_id, method, route, scope["path"], status, round(duration * 1000, 2))


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Routes that read a multipart body as a stream under their own limits: (method, path template) -> its regex.
_STREAMED_MULTIPART: dict[tuple[str, str], re.Pattern[str]] = {}


def streams_multipart(method: str, path: str) -> str:
    """Declare that the route `method path` (its full path template) streams a multipart body under limits of
    its own, so DVC_MAX_BODY_BYTES does not apply to that body; returns `path`, for the route's decorator.
    Every other multipart body is capped like JSON: a framework parses it whole before the route can refuse."""
    _STREAMED_MULTIPART[(method, path)] = compile_path(path)[0]  # compiled once, at import
    return path


def streamed_multipart_routes() -> set[tuple[str, str]]:
    return set(_STREAMED_MULTIPART)


def _streams_own_body(scope: Scope) -> bool:
    """A multipart body to a route declared by `streams_multipart`. This runs before routing, hence the path
    match; only multipart requests pay for it."""
    if not (_header(scope, b"content-type") or "").lower().startswith("multipart/form-data"):
        return False
    method, path = scope["method"], get_route_path(scope)
    return any(m == method and pattern.match(path) for (m, _), pattern in _STREAMED_MULTIPART.items())


def _body_cap() -> int:
    from app.core.settings import get_settings

    return get_settings().max_body_bytes


def _capped(scope: Scope, receive: Receive) -> tuple[Receive, bool]:
    """DVC_MAX_BODY_BYTES for every body but a streamed upload's (`streams_multipart`): a declared length over it
    is refused before reading; a chunked body is counted as it arrives. A declared length needs no counting: the
    server refuses a body longer than its Content-Length."""
    if _streams_own_body(scope):
        return receive, False
    cap, length = _body_cap(), _header(scope, b"content-length")
    if length is not None:
        return receive, length.isdigit() and int(length) > cap
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > cap:
            from starlette.exceptions import HTTPException

            raise HTTPException(413, f"The request body is larger than {cap} bytes.")
        return message

    return counted, False


async def _answer(send: Send, status: int, body: dict[str, object]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/problem+json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None

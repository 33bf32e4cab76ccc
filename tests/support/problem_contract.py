"""Every problem a route answers during the test session is one its OpenAPI operation documents.

Integrators generate clients from openapi/openapi.json and code against the documented `code`s, so a route
that answers a status or a problem code its operation does not list is a contract bug. The `app` fixture
installs `ProblemRecorder` (a thin pure-ASGI middleware, tests only) in front of the app; it notes, for each
answer, the matched route's path template, the method, the status and the problem `code`. At the end of the
session `undocumented()` compares what was seen with `app.openapi()` and the run fails on any gap. A subset
run (`pytest tests/fees`) checks what that subset saw.

Documented codes are a response's `x-problem-codes` (app.core.openapi), or, for a response without that
list, the codes named in backquotes in its description ("Problem: `a`, `b`").

Not checked, and why:
- answers to paths no route matches (the router's 404 `not_found`): there is no operation to document them on;
- 405 `method_not_allowed` for a method the path does not have: likewise, no operation (the router answers it
  before choosing a route, also where a route with a parameter would take the path of a resource of its own:
  GET /v1/dossiers/intake, app.core.routing);
- routes hidden from the schema (`include_in_schema=False`: /metrics, the dev identity provider and payment
  pages): not part of the contract;
- answers to a client that had already gone away (`http.disconnect` received before the answer began): nobody
  reads them (any route reading a body answers 400 `bad_request` for the access log: see
  tests/dossiers/test_attachments.py::test_client_disconnect_removes_staging_file);
- apps a test builds for itself (scratch routes in tests/core/test_http_plumbing.py and
  tests/identity/test_gate_dependencies.py): only the session `app` is recorded.
A HEAD request is served as the GET it stands for (app.core.request_context), so it is checked as that GET.
A 500 is never allowed, documented or not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_MEDIA_TYPE = b"application/problem+json"
_QUOTED_CODE = re.compile(r"`([a-z0-9_]+)`")


@dataclass(frozen=True)
class Observation:
    """One kind of answer seen: `path` is the route's template as the OpenAPI document spells it."""

    method: str
    path: str
    status: int
    code: str | None = None

    def describe(self) -> str:
        return f"{self.method} {self.path}: {self.status} {self.code or '(no problem code)'}"


class ProblemRecorder:
    """Pure ASGI: passes every message through untouched and reads only a problem answer's body."""

    def __init__(self, app: ASGIApp, routes: list[Any], seen: dict[Observation, str]) -> None:
        self.app = app
        self.routes = routes  # the app's own route list, to name the route of an answer given before routing
        self.seen = seen  # observation -> the first test that produced it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body: list[bytes] | None = None
        gone = False

        async def watched_receive() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or (message["type"] == "http.disconnect" and not status)  # before any answer
            return message

        async def recording_send(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                body = [] if content_type.startswith(PROBLEM_MEDIA_TYPE) else None
            elif message["type"] == "http.response.body" and body is not None:
                body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, watched_receive, recording_send)
        except BaseException:
            status = status or 500  # nothing was sent: the server answers 500
            raise
        finally:
            if not gone:
                self._record(scope, status, body)

    def _record(self, scope: Scope, status: int, body: list[bytes] | None) -> None:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        if status == 405 and scope.get("route") is None:
            return  # the router refused the method before choosing a route: no operation answered it
        route = scope.get("route") or self._route_for(scope, method)
        if route is None or not getattr(route, "include_in_schema", True):
            return
        code = None
        if body:
            try:
                code = json.loads(b"".join(body)).get("code")
            except (ValueError, AttributeError):
                code = "(unreadable problem body)"
        observation = Observation(method, getattr(route, "path_format", route.path), status, code)
        if observation not in self.seen:
            self.seen[observation] = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]

    def _route_for(self, scope: Scope, method: str) -> Any:
        """The route of an answer given before routing (413 from the body cap) or on a copied scope (HEAD)."""
        probe = {**scope, "method": method}
        for route in self.routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                return route
        return None


def documented_codes(response: Mapping[str, Any]) -> set[str]:
    codes = response.get("x-problem-codes")
    if codes is not None:
        return set(codes)
    return set(_QUOTED_CODE.findall(response.get("description", "")))


@dataclass(frozen=True)
class Finding:
    observation: Observation
    reason: str

    def __str__(self) -> str:
        return f"{self.observation.describe()} — {self.reason}"


def undocumented(observations: Iterable[Observation], spec: Mapping[str, Any]) -> list[Finding]:
    """Each observed error answer that the spec does not document (and each 500), sorted."""
    findings = []
    for seen in observations:
        if seen.status < 400:
            continue
        reason = _gap(seen, spec)
        if reason:
            findings.append(Finding(seen, reason))
    return sorted(findings, key=str)


def _gap(seen: Observation, spec: Mapping[str, Any]) -> str | None:
    if seen.status == 500:
        return "a server error; never allowed"
    operation = spec.get("paths", {}).get(seen.path, {}).get(seen.method.lower())
    if operation is None:
        return None if seen.status == 405 else "no such operation in the spec"
    response = operation.get("responses", {}).get(str(seen.status))
    if response is None:
        return "status not documented"
    if seen.code is None:
        return "not application/problem+json"
    if seen.code not in documented_codes(response):
        return "not documented"
    return None


class SessionRecorder:
    """What the session's `app` answered; checked once, when the session ends."""

    def __init__(self) -> None:
        self.app: Any = None
        self.seen: dict[Observation, str] = {}
        self.findings: list[str] = []

    def install(self, app: Any) -> None:
        """Put the recorder outermost of the app's middleware (before its first request builds the stack)."""
        self.app = app
        app.add_middleware(ProblemRecorder, routes=app.router.routes, seen=self.seen)

    def check(self) -> list[str]:
        if self.app is None or not self.seen:
            return []
        return [f"{finding}" + (f"  [first: {test}]" if (test := self.seen[finding.observation]) else "")
                for finding in undocumented(self.seen, self.app.openapi())]


RECORDER = SessionRecorder()


def pytest_sessionfinish(session: pytest.Session) -> None:
    RECORDER.findings = RECORDER.check()
    if RECORDER.findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RECORDER.findings:
        return
    terminalreporter.write_sep("=", "problem answers the OpenAPI document does not list", red=True, bold=True)
    for line in RECORDER.findings:
        terminalreporter.write_line(line)
    terminalreporter.write_line("Add the code to the route's `problems(...)` (app/core/openapi.py) and run "
                                "`make openapi`; a 500 is a bug to fix. See tests/support/problem_contract.py.")

"""The session check that every problem a route answers is documented (tests/support/problem_contract.py),
and the documentation it reads (app/core/openapi.py)."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import httpx
from fastapi import FastAPI, Request

from app.core.openapi import PROBLEM_CODES, problems
from app.core.problems import PROBLEM_KINDS, ProblemError, install_problem_handlers
from tests.support.problem_contract import Observation, ProblemRecorder, undocumented

SPEC: dict[str, Any] = {"paths": {
    "/v1/things/{thing_id}": {
        "get": {"responses": {
            "200": {"description": "Successful Response"},
            "404": {"description": "Problem: `not_found`", PROBLEM_CODES: ["not_found"]},
            "409": {"description": "Problem: `conflict`, `version_published`"},  # no list: read the description
        }},
    },
}}
THING = "/v1/things/{thing_id}"


def _found(*observations: Observation) -> list[str]:
    return [str(finding) for finding in undocumented(observations, SPEC)]


def test_documented_answers_pass() -> None:
    assert _found(Observation("GET", THING, 200), Observation("GET", THING, 404, "not_found"),
                  Observation("GET", THING, 409, "version_published")) == []


def test_an_undocumented_code_or_status_is_reported() -> None:
    assert _found(Observation("GET", THING, 409, "fees_unpaid"), Observation("GET", THING, 404, "not_found"),
                  Observation("GET", THING, 403, "forbidden_role")) == [
        "GET /v1/things/{thing_id}: 403 forbidden_role — status not documented",
        "GET /v1/things/{thing_id}: 409 fees_unpaid — not documented",
    ]


def test_an_error_without_a_problem_body_is_reported() -> None:
    assert _found(Observation("GET", THING, 404)) == [
        "GET /v1/things/{thing_id}: 404 (no problem code) — not application/problem+json"]


def test_a_500_is_reported_even_if_documented() -> None:
    spec = {"paths": {THING: {"get": {"responses": {"500": {"description": "Problem: `internal_error`"}}}}}}
    assert [str(f) for f in undocumented([Observation("GET", THING, 500, "internal_error")], spec)] == [
        "GET /v1/things/{thing_id}: 500 internal_error — a server error; never allowed"]


def test_a_missing_method_is_excused_only_as_405() -> None:
    assert _found(Observation("DELETE", THING, 405, "method_not_allowed")) == []
    assert _found(Observation("DELETE", THING, 404, "not_found")) == [
        "DELETE /v1/things/{thing_id}: 404 not_found — no such operation in the spec"]


async def test_the_recorder_names_the_route_template_and_the_code() -> None:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        if thing_id == 0:
            raise ProblemError("not_found")
        return {"id": thing_id}

    install_problem_handlers(app)
    seen: dict[Observation, str] = {}
    app.add_middleware(ProblemRecorder, routes=app.router.routes, seen=seen)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        await http.get("/v1/things/1")
        await http.get("/v1/things/0")
        await http.get("/v1/things/0")
        await http.get("/nowhere")
    assert set(seen) == {Observation("GET", THING, 200), Observation("GET", THING, 404, "not_found")}


async def test_the_recorder_ignores_an_answer_to_a_client_already_gone() -> None:
    app = FastAPI()

    @app.post("/v1/things")
    async def post_thing(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    seen: dict[Observation, str] = {}
    recorded = ProblemRecorder(app, routes=app.router.routes, seen=seen)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/things", "raw_path": b"/v1/things", "query_string": b"", "root_path": "",
             "server": ("t", 80), "client": ("127.0.0.1", 1), "headers": [(b"host", b"t")]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    with contextlib.suppress(Exception):
        await recorded(scope, receive, send)
    assert seen == {}


def test_problems_lists_each_code_under_its_status() -> None:
    responses = problems("not_found", "conflict", "version_published")
    assert {status: r[PROBLEM_CODES] for status, r in responses.items()} == {
        404: ["not_found"], 409: ["conflict", "version_published"]}
    assert responses[409]["description"] == "Problem: `conflict`, `version_published`"


def test_every_documented_problem_response_names_its_codes_both_ways(app: FastAPI) -> None:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                where = f"{method.upper()} {path} {status}"
                codes = response[PROBLEM_CODES]
                assert codes == sorted(set(re.findall(r"`([a-z0-9_]+)`", response["description"]))), where
                assert {PROBLEM_KINDS[code].status for code in codes} == {int(status)}, where


def test_a_route_declaring_its_own_403_keeps_the_gate_codes(app: FastAPI) -> None:
    responses = app.openapi()["paths"]["/v1/dossiers/{dossier_id}/transitions"]["post"]["responses"]
    assert {"account_not_registered", "account_suspended", "scope_missing", "forbidden_role"} <= set(
        responses["403"][PROBLEM_CODES])
    assert {"token_missing", "token_invalid", "token_expired"} <= set(responses["401"][PROBLEM_CODES])

"""The committed contract: operation ids, problem responses, and a spec identical in every environment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.core.problems import PROBLEM_KINDS, PROBLEM_MEDIA_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route function names: short, stable, and what generated clients call."""
    return route.name


PROBLEM_CODES = "x-problem-codes"  # a problem response's codes, machine-readable (its description names them too)

# Problems an operation answers because of what it is, whatever its route declares: behind the token gate
# (app.identity.deps), taking a header whose dependency refuses, a write method (the request-size cap answers 413
# before routing, app.core.request_context), taking a JSON body (415 for another Content-Type, app.core.routing).
_GATE_CODES = ("token_missing", "token_invalid", "token_expired", "account_not_registered", "account_suspended",
               "forbidden_role", "scope_missing", "identity_provider_unavailable")
_HEADER_CODES: dict[str, tuple[str, ...]] = {
    "x-on-behalf-of": ("not_a_representative",),  # app.identity.deps.current_acting
    "idempotency-key": ("idempotency_in_progress", "idempotency_key_reused"),  # app.core.idempotency
}
_BODY_CAP_METHODS = frozenset({"post", "put", "patch"})
_UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})


def problem_response_doc(codes: Iterable[str]) -> dict[str, Any]:
    """A problem+json response naming its codes, in the description and as a list generated clients can read."""
    names = sorted(set(codes))
    return {"description": "Problem: " + ", ".join(f"`{c}`" for c in names),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}, PROBLEM_CODES: names}


def problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status it can answer with, documented as problem+json."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(PROBLEM_KINDS[code].status, []).append(code)
    return {status: {"model": Problem, **problem_response_doc(names)} for status, names in sorted(by_status.items())}


def _implied_codes(method: str, operation: dict[str, Any]) -> list[str]:
    codes = ["validation_error"] if "422" in operation["responses"] else []  # FastAPI's request validation
    if operation.get("security"):
        codes += _GATE_CODES
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header":
            codes += _HEADER_CODES.get(parameter["name"].lower(), ())
    if method in _BODY_CAP_METHODS:
        codes.append("payload_too_large")
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        codes.append("media_type_not_allowed")  # a body not declared JSON (app.core.routing)
    if method in _UNSAFE_METHODS:
        codes.append("precondition_failed")  # If-Match: taken by the route, or refused (app.core.routing)
    return codes


def _normalise_operation(method: str, operation: dict[str, Any]) -> None:
    """Add the implied problems to what the route declared: merged per status, so a route's own 403 keeps the
    gate's codes, and FastAPI's 422 becomes a problem response that keeps the route's 422 codes."""
    responses = operation.setdefault("responses", {})
    by_status: dict[str, list[str]] = {}
    for code in _implied_codes(method, operation):
        by_status.setdefault(str(PROBLEM_KINDS[code].status), []).append(code)
    for status, codes in by_status.items():
        declared = responses.get(status, {}).get(PROBLEM_CODES, [])
        responses[status] = problem_response_doc([*declared, *codes])
    for response in responses.values():
        # A problem+json response must not also claim application/json (FastAPI adds it for `model=`).
        content = response.get("content", {})
        if PROBLEM_MEDIA_TYPE in content:
            content.pop("application/json", None)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         tags=app.openapi_tags)
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if isinstance(operation, dict) and "responses" in operation:
                _normalise_operation(method, operation)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem_schema.pop("$defs", {}).items():
        components[name] = definition
    components["Problem"] = problem_schema
    app.openapi_schema = schema
    return schema

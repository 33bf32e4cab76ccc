"""The committed contract: operation ids, problem responses, and a spec identical in every environment."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.core.problems import PROBLEM_KINDS, PROBLEM_MEDIA_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route function names: short, stable, and what generated clients call."""
    return route.name


def problem_response_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status it can answer with, documented as problem+json."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(PROBLEM_KINDS[code].status, []).append(code)
    return {status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
                     "description": "Problem: " + ", ".join(f"`{c}`" for c in sorted(names))}
            for status, names in sorted(by_status.items())}


def _normalise_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if "422" in responses:
        responses["422"] = problem_response_doc("Problem: `validation_error` and other 422 codes")
    if operation.get("security"):
        responses.setdefault("401", problem_response_doc(
            "Problem: `token_missing`, `token_invalid`, `token_expired`"))
        responses.setdefault("403", problem_response_doc(
            "Problem: `account_not_registered`, `account_suspended`, `forbidden_role`, `scope_missing`"))
        responses.setdefault("503", problem_response_doc("Problem: `identity_provider_unavailable`"))
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
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _normalise_operation(operation)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem_schema.pop("$defs", {}).items():
        components[name] = definition
    components["Problem"] = problem_schema
    app.openapi_schema = schema
    return schema

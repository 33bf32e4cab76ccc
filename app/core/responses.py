"""Answers built from our own models, serialised straight to JSON bytes by pydantic.

A route that returns a model makes FastAPI check it against `response_model` and turn it into Python data,
then Starlette encode that with `json`: for a model we just built from our own rows, only the last step is
needed, and pydantic's serialiser does it in one pass. Routes keep `response_model` for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, headers=headers,
                    media_type="application/json")

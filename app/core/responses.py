"""Answers built from our own models, serialised straight to JSON bytes by pydantic.

A route that returns a model makes FastAPI check it against `response_model` and turn it into Python data,
then Starlette encode that with `json`: for a model we just built from our own rows, only the last step is
needed, and pydantic's serialiser does it in one pass. Routes keep `response_model` for the OpenAPI document.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, headers=headers,
                    media_type="application/json")


def content_disposition(disposition: str, file_name: str) -> str:
    """`attachment; filename="..."; filename*=UTF-8''...` (RFC 6266): the UTF-8 name for clients that read
    `filename*`, and an ASCII stand-in for those that do not (diacritics dropped, `đ` as `d`, anything else
    outside printable ASCII, quotes and backslashes as `_`)."""
    plain = unicodedata.normalize("NFKD", file_name.replace("đ", "d").replace("Đ", "D"))
    ascii_name = "".join("_" if c in '"\\' or not " " <= c <= "~" else c
                         for c in plain if not unicodedata.combining(c))
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"

"""CSV answers (`Accept: text/csv`): UTF-8, CRLF lines (RFC 4180), an opt-in byte-order mark for Excel, streamed.

UTF-8 without a byte-order mark is what programs expect; Excel (what officials open the exports with) reads such a
file in the legacy code page and garbles the diacritics. So `bom=true` puts one first, and only when asked: a
program reading the header must never find a BOM glued to its first column name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response, StreamingResponse

from app.core.negotiation import VARY_ACCEPT
from app.core.responses import content_disposition

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
UTF8_BOM = b"\xef\xbb\xbf"
CSV_BOM_NOTE = ("The CSV is UTF-8 without a byte-order mark; add `bom=true` to start it with one (EF BB BF), "
                "so that Microsoft Excel shows the Vietnamese diacritics.")
BomQuery = Annotated[bool, Query(description=(
    "With `Accept: text/csv`: start the file with the UTF-8 byte-order mark (EF BB BF), which Microsoft Excel needs "
    "to read Vietnamese diacritics. Default false (programs reading the header expect none); ignored for JSON."))]


def csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    """The rows as CSV text (CRLF line ends; None as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return buffer.getvalue()


async def _encoded(chunks: AsyncIterator[str], bom: bool) -> AsyncIterator[bytes]:
    if bom:
        yield UTF8_BOM
    async for chunk in chunks:
        yield chunk.encode("utf-8")


def csv_stream_response(chunks: AsyncIterator[str], file_name: str, *, bom: bool) -> StreamingResponse:
    """A CSV download sent as `chunks` are produced (each a few hundred lines of `csv_lines`), never held whole."""
    return StreamingResponse(_encoded(chunks, bom), media_type=CSV_MEDIA_TYPE,
                             headers={"Content-Disposition": content_disposition("attachment", file_name),
                                      **VARY_ACCEPT})


def csv_response(body: str, file_name: str, *, bom: bool) -> Response:
    """A CSV download already made whole (a report of a few hundred lines)."""
    return Response((UTF8_BOM if bom else b"") + body.encode("utf-8"), media_type=CSV_MEDIA_TYPE,
                    headers={"Content-Disposition": content_disposition("attachment", file_name), **VARY_ACCEPT})


def csv_response_doc(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route that answers its `response_model` as JSON, or with `Accept: text/csv` a CSV (FastAPI adds
    the JSON schema beside the CSV)."""
    return {200: {"description": f"{description} {CSV_BOM_NOTE}",
                  "content": {"text/csv": {"schema": {"type": "string"}}}}}

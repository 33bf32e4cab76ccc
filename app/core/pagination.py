"""Cursor pagination shared by every list: `?limit=` (1-200, default 50) and an opaque `?cursor=`.

Cursors are keyset positions (the sort key of the last row), so a page costs the same at row 10 and at
row 1,000,000, and concurrent inserts never shift or repeat items.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core.problems import ProblemError
from app.core.text import DECIMAL_DIGITS, is_storable_text

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(  # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per list
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page (at most 200)."), DECIMAL_DIGITS] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`.")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    """A cursor is client input: anything but what `_encode_value` writes is a ValueError (a 422)."""
    if value is None:  # sort keys are never NULL
        raise ValueError("null position")
    if isinstance(value, dict) and isinstance(value.get("t"), str):
        moment = datetime.fromisoformat(value["t"])
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment.astimezone(UTC)  # OverflowError at the ends of the calendar
    if isinstance(value, dict) and isinstance(value.get("u"), str):
        return uuid.UUID(value["u"])
    if isinstance(value, dict | list):
        raise ValueError("not a position")
    if isinstance(value, str) and not is_storable_text(value):
        # Sort keys we write are stored text: a lone surrogate (`"\ud800"` in the JSON) was a 500 on SQLite, a
        # NUL a refused parameter on PostgreSQL and a position on SQLite.
        raise ValueError("not storable text")
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("arity")
        return [_decode_value(v) for v in values]
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise ProblemError("validation_error", "The cursor is not valid for this list.",
                           errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}]) from error


def keyset_after(columns: Sequence[Any], values: Sequence[Any], descending: Sequence[bool]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order given by `columns`/`descending` (mixed directions allowed)."""
    clauses = []
    for i, column in enumerate(columns):
        equal_prefix = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if descending[i] else column > values[i]
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses)


def _check_cursor_types(columns: Sequence[Any], values: Sequence[Any]) -> None:
    """A cursor is client input: each value must have its column's type (a forged one is a 422, not a 500)."""
    for column, value in zip(columns, values, strict=True):
        try:  # a TypeDecorator (UTCDateTime) says `object`: its underlying type is what the column holds
            expected = getattr(column.type, "impl", column.type).python_type
        except (AttributeError, NotImplementedError):
            continue
        wrong_type = not isinstance(value, expected) and not (expected is float and isinstance(value, int))
        wrong_type |= isinstance(value, bool) and expected is not bool  # JSON true is no position (it read as 1)
        out_of_range = isinstance(value, int) and not -(2**63) <= value < 2**63  # no database integer holds it
        if value is not None and (wrong_type or out_of_range):
            raise ProblemError("validation_error", "The cursor is not valid for this list.",
                               errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}])


def keyset_statement(stmt: Select[Any], order: Sequence[tuple[Any, bool]], *, after_cursor: bool) -> Select[Any]:
    """`stmt` in the order given, at most `:page_limit` rows and, with `after_cursor`, only the rows after the
    position bound as `:page_k0`, `:page_k1`...: the same statement for every page of a list shape, the
    values passed when it runs (`page_parameters`)."""
    columns = [c for c, _ in order]
    if after_cursor:
        position: list[Any] = [bindparam(f"page_k{i}") for i in range(len(columns))]
        stmt = stmt.where(keyset_after(columns, position, [d for _, d in order]))
    return stmt.order_by(*[c.desc() if d else c.asc() for c, d in order]).limit(bindparam("page_limit"))


def page_parameters(params: PageParams, order: Sequence[tuple[Any, bool]]) -> dict[str, Any]:
    """The values of `keyset_statement`'s parameters for this page (one row more than asked: is there a next?)."""
    values: dict[str, Any] = {"page_limit": params.limit + 1}
    if params.cursor:
        columns = [c for c, _ in order]
        position = decode_cursor(params.cursor, len(columns))
        _check_cursor_types(columns, position)
        values.update({f"page_k{i}": value for i, value in enumerate(position)})
    return values


def page_of(rows: list[Any], params: PageParams, key: Callable[[Any], Sequence[Any]]) -> tuple[list[Any], str | None]:
    """The page and the cursor of the next one (None on the last page), from the rows `keyset_statement` read."""
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    return rows, encode_cursor(key(rows[-1]))


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    order: Sequence[tuple[Any, bool]],
    params: PageParams,
    key: Callable[[Any], Sequence[Any]],
    scalars: bool = True,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[list[Any], str | None]:
    """Run `stmt` ordered by `order` ((column, descending) pairs, ending in a unique column), one page of it.
    `parameters` are the values of `stmt`'s bind parameters, if it has any."""
    stmt = keyset_statement(stmt, order, after_cursor=bool(params.cursor))
    result = await session.execute(stmt, {**(parameters or {}), **page_parameters(params, order)})
    return page_of(list(result.scalars().all() if scalars else result.all()), params, key)

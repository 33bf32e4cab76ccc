"""Listing and searching the procedures in force, ranked in SQL, identically on SQLite and PostgreSQL.

Both sides of the comparison are normalised by app.catalogue.text (no accents, lower case, ASCII words), and
stored padded with spaces, so `' ' || word` found in the column means "a word starting with `word`". The rank
is one integer computed by the database:

    3,000,000 - length(name)      the whole query, as a phrase, in the name (shorter names first)
    2,000,000 - span              every word in the name; span = distance between the first and last word
                                  found, so words closer together rank higher
    1,000,000 + 1000 * matched    some words in the name, more words higher
    matched in field/agency       no word in the name, but in the field or agency name

Pagination is keyset on (rank DESC, procedure code ASC): the cursor carries the last (rank, code), so pages
never repeat or skip while the catalogue is stable, and page N costs the same as page 1. A cursor belongs to
the query that produced it. Without `q` the order is the procedure code.

On PostgreSQL the name column has a pg_trgm GIN index (migration 0003) that serves the `LIKE '% word%'`
filters; SQLite scans the (small) live set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Select, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from app.catalogue.models import OnlineLevel, ProcedureVersion
from app.catalogue.service import live_clause
from app.catalogue.text import normalise, query_words
from app.core.pagination import PageParams, keyset_page

PHRASE, ALL_WORDS, SOME_WORDS = 3_000_000, 2_000_000, 1_000_000


class _position(FunctionElement[int]):
    """1-based position of a substring, 0 when absent: instr() on SQLite, strpos() on PostgreSQL."""

    type = Integer()
    inherit_cache = True
    name = "instr"


@compiles(_position)
def _position_default(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _position_pg(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


class _extreme(FunctionElement[int]):
    type = Integer()
    inherit_cache = True
    name = "extreme"

    def __init__(self, largest: bool, *args: Any) -> None:
        self.largest = largest
        super().__init__(*args)


@compiles(_extreme)
def _extreme_default(element: _extreme, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's multi-argument max()/min() are scalar functions, like GREATEST/LEAST.
    return f"{'max' if element.largest else 'min'}({compiler.process(element.clauses, **kw)})"


@compiles(_extreme, "postgresql")
def _extreme_pg(element: _extreme, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{'GREATEST' if element.largest else 'LEAST'}({compiler.process(element.clauses, **kw)})"


def _span(positions: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    if len(positions) == 1:
        return literal(0)
    return _extreme(True, *positions) - _extreme(False, *positions)


def rank_expression(q: str) -> tuple[ColumnElement[int], ColumnElement[bool]] | None:
    """(rank, filter) for a query, or None when the query has no words."""
    words = query_words(q)
    if not words:
        return None
    name, extra = ProcedureVersion.search_name, ProcedureVersion.search_extra
    phrase = " " + " ".join(normalise(q).split()[:24])
    positions = [_position(name, literal(" " + w)) for w in words]
    in_name = [case((p > 0, 1), else_=0) for p in positions]
    in_extra = [case((_position(extra, literal(" " + w)) > 0, 1), else_=0) for w in words]
    matched = sum(in_name[1:], in_name[0])
    matched_extra = sum(in_extra[1:], in_extra[0])
    rank = case(
        (_position(name, literal(phrase)) > 0, PHRASE - func.length(name)),
        (matched == len(words), ALL_WORDS - _span(positions)),
        (matched > 0, SOME_WORDS + matched * 1000),
        else_=matched_extra,
    )
    patterns = [f"% {w}%" for w in words]
    condition = or_(*[name.like(p) for p in patterns], *[extra.like(p) for p in patterns])
    return rank, condition


def _filtered(stmt: Any, *, agency: str | None, field: str | None, online_level: OnlineLevel | None,
              channel: str | None, applicant_kind: str | None) -> Select[Any]:
    stmt = stmt.where(live_clause())
    if agency:
        stmt = stmt.where(ProcedureVersion.agency_code == agency)
    if field:
        stmt = stmt.where(ProcedureVersion.field_code == field)
    if online_level:
        stmt = stmt.where(ProcedureVersion.online_level == online_level)
    if channel:
        stmt = stmt.where(ProcedureVersion.facets.like(f"% channel:{channel} %"))
    if applicant_kind:
        stmt = stmt.where(ProcedureVersion.facets.like(f"% applicant:{applicant_kind} %"))
    return stmt


async def search_procedures(
    session: AsyncSession, page: PageParams, *, q: str | None = None, agency: str | None = None,
    field: str | None = None, online_level: OnlineLevel | None = None, channel: str | None = None,
    applicant_kind: str | None = None,
) -> tuple[list[ProcedureVersion], str | None]:
    """The versions in force that match, best first; (items, next_cursor)."""
    filters: dict[str, Any] = {"agency": agency, "field": field, "online_level": online_level,
                               "channel": channel, "applicant_kind": applicant_kind}
    ranked = rank_expression(q) if q else None
    if ranked is None:
        stmt = _filtered(select(ProcedureVersion), **filters)
        return await keyset_page(session, stmt, order=[(ProcedureVersion.procedure_code, False)], params=page,
                                 key=lambda v: (v.procedure_code,))
    rank, condition = ranked
    stmt = _filtered(select(ProcedureVersion, rank.label("rank")), **filters).where(condition)
    rows, cursor = await keyset_page(session, stmt, order=[(rank, True), (ProcedureVersion.procedure_code, False)],
                                     params=page, key=lambda row: (row[1], row[0].procedure_code), scalars=False)
    return [row[0] for row in rows], cursor

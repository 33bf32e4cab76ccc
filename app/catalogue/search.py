"""Listing and searching the procedures in force, ranked in SQL, identically on SQLite and PostgreSQL.

Both sides of the comparison are normalised by app.catalogue.text (no accents, lower case, ASCII words), and
stored padded with spaces, so `' ' || word` found in the column means "a word starting with `word`". The rank
is one integer computed by the database:

    3,000,000 - length(name)      the whole query, as a phrase, in the name (shorter names first)
    2,000,000 + ROOM - span       every word in the name; span = distance between the first and last word
                                  found, so words closer together rank higher
    1,000,000 + 1000 * matched    some words in the name, more words higher
    matched in field/agency       no word in the name, but in the field or agency name

Every rank lies inside its band, [floor, next floor): the keyset below relies on it. (The "every word" rank was
once 2,000,000 - span, below its own floor, and a page ending on such a row skipped the rest of the band.)
Length and span are capped at ROOM so that even a name longer than any the schema allows cannot leave it.

The three name bands are queried one after the other, each ordered by (rank DESC, code) and only until the
page is full: the first band (every word in the name, AND of `LIKE '% word%'`) is selective and, on
PostgreSQL, served by the pg_trgm GIN index of migration 0003, so the broad "some words" scan only runs for
queries whose good matches do not fill a page.

Pagination is keyset on (rank DESC, procedure code ASC): the cursor carries the last (rank, code); the next
page skips the bands above that rank and continues inside its band, so pages never repeat or skip while the
catalogue is stable. A cursor belongs to the query that produced it. Without `q` the order is the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from app.catalogue.models import OnlineLevel, ProcedureVersion
from app.catalogue.service import live_clause
from app.catalogue.text import normalise, query_words
from app.core.pagination import PageParams, decode_cursor, encode_cursor, keyset_after, keyset_page
from app.core.problems import ProblemError

PHRASE, ALL_WORDS, SOME_WORDS = 3_000_000, 2_000_000, 1_000_000
# Room inside the "every word" band for the name length (phrase) and the span (all words): names are at most a
# few thousand characters (schemas.LongName), far below it.
ROOM = 400_000


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


def _capped(value: ColumnElement[int]) -> ColumnElement[int]:
    return _extreme(False, value, literal(ROOM))


def _span(positions: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    """Characters from the first to the last word found, at most ROOM."""
    if len(positions) == 1:
        return literal(0)
    return _capped(_extreme(True, *positions) - _extreme(False, *positions))


@dataclass(frozen=True)
class Tier:
    """A band of the rank: which rows belong to it and their rank inside it."""

    floor: int
    condition: ColumnElement[bool]
    rank: ColumnElement[int]


def _count(flags: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    return sum(flags[1:], flags[0])


def tiers(q: str) -> list[Tier]:
    """The rank bands for a query, best first (empty when the query has no words).

    Each band is a separate query: the first (every word in the name) is served by the trigram index on
    PostgreSQL and usually fills the page, so the broad "some words" scan runs only when needed."""
    words = query_words(q)
    if not words:
        return []
    name, extra = ProcedureVersion.search_name, ProcedureVersion.search_extra
    phrase = " " + " ".join(normalise(q).split()[:24])
    patterns = [f"% {w}%" for w in words]
    positions = [_position(name, literal(" " + w)) for w in words]
    all_in_name = and_(*[name.like(p) for p in patterns])  # indexable (pg_trgm)
    some_in_extra = or_(*[extra.like(p) for p in patterns])  # indexable (pg_trgm)
    # The "some words" band scans most rows anyway: strpos() is cheaper per row than LIKE there.
    matched = _count([case((p > 0, 1), else_=0) for p in positions])
    # phrase: [PHRASE - ROOM, PHRASE]; every word: [ALL_WORDS, ALL_WORDS + ROOM]; both inside [ALL_WORDS, PHRASE].
    result = [Tier(ALL_WORDS, all_in_name, case(
        (_position(name, literal(phrase)) > 0, PHRASE - _capped(func.length(name))),
        else_=ALL_WORDS + ROOM - _span(positions)))]
    if len(words) > 1:
        result.append(Tier(SOME_WORDS, matched.between(1, len(words) - 1), SOME_WORDS + matched * 1000))
    matched_extra = _count([case((_position(extra, literal(" " + w)) > 0, 1), else_=0) for w in words])
    result.append(Tier(0, and_(some_in_extra, matched == 0), matched_extra))
    return result


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


def _position_after(cursor: str) -> list[Any]:
    """The (rank, code) a cursor carries. A cursor is client input: anything but the pair this module writes is
    a 422 (a text rank was a TypeError, an integer past 64 bits an overflow in the driver: 500s)."""
    rank, code = decode_cursor(cursor, 2)
    if type(rank) is not int or not 0 <= rank <= PHRASE or not isinstance(code, str):
        raise ProblemError("validation_error", "The cursor is not valid for this list.",
                           errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}])
    return [rank, code]


async def search_procedures(
    session: AsyncSession, page: PageParams, *, q: str | None = None, agency: str | None = None,
    field: str | None = None, online_level: OnlineLevel | None = None, channel: str | None = None,
    applicant_kind: str | None = None,
) -> tuple[list[ProcedureVersion], str | None]:
    """The versions in force that match, best first; (items, next_cursor)."""
    filters: dict[str, Any] = {"agency": agency, "field": field, "online_level": online_level,
                               "channel": channel, "applicant_kind": applicant_kind}
    bands = tiers(q) if q else []
    if not bands:
        stmt = _filtered(select(ProcedureVersion), **filters)
        return await keyset_page(session, stmt, order=[(ProcedureVersion.procedure_code, False)], params=page,
                                 key=lambda v: (v.procedure_code,))
    after = _position_after(page.cursor) if page.cursor else None
    found: list[tuple[ProcedureVersion, int]] = []
    for band in bands:
        if after is not None and after[0] < band.floor:
            continue  # the cursor is already past this band
        stmt = _filtered(select(ProcedureVersion, band.rank.label("rank")), **filters).where(band.condition)
        if after is not None:
            stmt = stmt.where(keyset_after([band.rank, ProcedureVersion.procedure_code], after, [True, False]))
        stmt = stmt.order_by(band.rank.desc(), ProcedureVersion.procedure_code).limit(page.limit + 1 - len(found))
        found += [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
        if len(found) > page.limit:
            break
    cursor = None
    if len(found) > page.limit:
        found = found[: page.limit]
        cursor = encode_cursor([found[-1][1], found[-1][0].procedure_code])
    return [version for version, _ in found], cursor

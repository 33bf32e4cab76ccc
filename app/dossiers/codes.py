"""Dossier codes (mã hồ sơ, Circular 01/2018/TT-VPCP Art. 19): `{agency_code}-{yymmdd}-{seq:04d}` by default.

The sequence counts one agency's dossiers for one local day (Asia/Ho_Chi_Minh) and must be gap-free and
unique under concurrency on both databases. One counter row per (agency, day) is created or incremented
with `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` inside the submitting transaction: PostgreSQL
serialises concurrent submits on that row's lock, SQLite on its write transaction (`BEGIN IMMEDIATE`). A
transaction that rolls back takes its increment with it, so no number is skipped; a committed code is never
handed out again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import LOCAL_TZ
from app.core.settings import get_settings
from app.dossiers.models import DossierCodeCounter


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def format_code(pattern: str, agency_code: str, day: date, seq: int) -> str:
    """Fields a pattern may use: agency_code, yymmdd, yyyymmdd, seq."""
    return pattern.format(agency_code=agency_code, yymmdd=day.strftime("%y%m%d"),
                          yyyymmdd=day.strftime("%Y%m%d"), seq=seq)


def _reserve(insert: Any) -> Any:
    """Insert the (agency, day) row at 1 or add 1 to it, returning the number: one statement, whose row lock
    (PostgreSQL) or write transaction (SQLite) makes concurrent submissions take consecutive numbers."""
    stmt = insert(DossierCodeCounter).values(agency_code=bindparam("agency_code"), day=bindparam("day"), last_seq=1)
    return (stmt.on_conflict_do_update(index_elements=["agency_code", "day"],
                                       set_={"last_seq": DossierCodeCounter.last_seq + 1})
            .returning(DossierCodeCounter.last_seq))


_RESERVE = {"postgresql": _reserve(postgresql.insert), "sqlite": _reserve(sqlite.insert)}  # built once


async def next_sequence(session: AsyncSession, agency_code: str, day: date) -> int:
    """The next number of the (agency, day) sequence, reserved in the caller's transaction."""
    statement = _RESERVE[session.get_bind().dialect.name]
    return int((await session.execute(statement, {"agency_code": agency_code, "day": day})).scalar_one())


async def next_dossier_code(session: AsyncSession, agency_code: str, at: datetime) -> str:
    day = local_day(at)
    seq = await next_sequence(session, agency_code, day)
    return format_code(get_settings().dossier_code_pattern, agency_code, day, seq)

"""Dossier codes (mã hồ sơ, Circular 01/2018/TT-VPCP Art. 19): `{agency_code}-{yymmdd}-{seq:04d}` by default.

The sequence counts one agency's dossiers for one local day (Asia/Ho_Chi_Minh) and must be gap-free and
unique under concurrency on both databases. One counter row per (agency, day) is incremented with
`UPDATE ... RETURNING` inside the submitting transaction: PostgreSQL serialises concurrent submits on that
row's lock, SQLite on its write transaction (`BEGIN IMMEDIATE`). A transaction that rolls back takes its
increment with it, so no number is skipped; a committed code is never handed out again.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import get_settings
from app.dossiers.models import DossierCodeCounter


def local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()


def format_code(pattern: str, agency_code: str, day: date, seq: int) -> str:
    """Fields a pattern may use: agency_code, yymmdd, yyyymmdd, seq."""
    return pattern.format(agency_code=agency_code, yymmdd=day.strftime("%y%m%d"),
                          yyyymmdd=day.strftime("%Y%m%d"), seq=seq)


async def next_sequence(session: AsyncSession, agency_code: str, day: date) -> int:
    """The next number of the (agency, day) sequence, reserved in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(DossierCodeCounter).values(agency_code=agency_code, day=day, last_seq=0)
        .on_conflict_do_nothing(index_elements=["agency_code", "day"]))
    result = await session.execute(
        update(DossierCodeCounter)
        .where(DossierCodeCounter.agency_code == agency_code, DossierCodeCounter.day == day)
        .values(last_seq=DossierCodeCounter.last_seq + 1)
        .returning(DossierCodeCounter.last_seq))
    return int(result.scalar_one())


async def next_dossier_code(session: AsyncSession, agency_code: str, at: datetime) -> str:
    day = local_day(at)
    seq = await next_sequence(session, agency_code, day)
    return format_code(get_settings().dossier_code_pattern, agency_code, day, seq)

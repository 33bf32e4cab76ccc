"""End-of-day counts the worker missed (an outage of more than a day) are filled in later, rebuilt from the
dossiers' history as they were at each day's end, for the last DVC_OPEN_COUNT_BACKFILL_DAYS days; once per
day however many workers run. (tests/reporting/test_indicator_crosscheck.py also rebuilds every night of its
random examples and compares it with the worker's own count.)"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import get_database
from app.core.settings import get_settings
from app.reporting.models import OpenCount, OpenCountCapture
from app.reporting.tasks import capture_missed_days
from tests.reporting.conftest import build_march, local
from tests.reporting.test_indicators import by_name, fraction
from tests.reporting.test_open_counts import _finish_open_ones, _march, assert_end_of_march


async def _captures() -> dict[date, datetime]:
    async with get_database().read_sessions() as session:
        return dict((await session.execute(select(OpenCountCapture.day, OpenCountCapture.captured_at))).all())


async def test_days_missed_by_an_outage_are_rebuilt_as_they_were_at_their_end(client, flow, fees, at, accounts):
    month = await build_march(client, flow, fees, at)
    admin = await accounts.admin()
    at.set(2025, 4, 2, 9, 0)
    await _finish_open_ones(flow, month)  # two of the three dossiers open on 31 March finish while it is down
    at.set(2025, 4, 10, 9, 0)  # the worker is back
    counted = await capture_missed_days()
    assert counted == [date(2025, 4, 9) - timedelta(days=n) for n in range(31)]  # 9 April back to 10 March
    assert await capture_missed_days() == []
    captures = await _captures()
    assert captures[date(2025, 3, 31)] == local(2025, 4, 1, 0, 0)  # a rebuilt day is counted as at its end

    body = await _march(client, admin)
    assert datetime.fromisoformat(body["open_counted_at"]) == local(2025, 4, 1, 0, 0)
    # What the worker would have counted at 00:05 on 1 April (test_open_counts.py): desk, open and paid were
    # open and past their due dates. Before, the live fallback saw only the paid one (the others finished since).
    await assert_end_of_march(client, admin, month, body)

    # On 18 March: desk (overdue since 10 March), open and paid (received 17 March, due 24 March) were open.
    mid = await _march(client, admin, to="2025-03-18")
    assert datetime.fromisoformat(mid["open_counted_at"]) == local(2025, 3, 19, 0, 0)
    assert fraction(by_name(mid["total"])["progress"]["overdue_open"]) == (1, 3, 0.3333)
    # Beyond the look-back (9 March) nothing was filled in: the report rebuilds that day's end when it is made
    # (before: counted the dossiers as they were on 10 April). Desk and apologised were open then, neither past
    # its original due date (10 March).
    early = await _march(client, admin, to="2025-03-09")
    assert datetime.fromisoformat(early["open_counted_at"]) == local(2025, 3, 10, 0, 0)
    assert fraction(by_name(early["total"])["progress"]["overdue_open"]) == (0, 2, 0.0)
    assert date(2025, 3, 9) not in await _captures()  # a report only reads


async def test_the_day_just_ended_is_counted_as_before_and_the_look_back_is_a_setting(client, flow, at,
                                                                                      monkeypatch):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    await flow.act(flow.reception, dossier["id"], "receive")
    monkeypatch.setenv("DVC_OPEN_COUNT_BACKFILL_DAYS", "3")
    get_settings.cache_clear()
    try:
        at.set(2025, 3, 10, 0, 5)  # minutes after midnight: the day just ended counted live, two more rebuilt
        assert await capture_missed_days() == [date(2025, 3, 9), date(2025, 3, 8), date(2025, 3, 7)]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    captures = await _captures()
    assert captures == {date(2025, 3, 9): local(2025, 3, 10, 0, 5), date(2025, 3, 8): local(2025, 3, 9, 0, 0),
                        date(2025, 3, 7): local(2025, 3, 8, 0, 0)}
    async with get_database().read_sessions() as session:
        totals = dict((await session.execute(select(OpenCount.day, OpenCount.total))).all())
    assert totals == {date(2025, 3, 9): 1, date(2025, 3, 8): 1, date(2025, 3, 7): 1}


async def test_workers_filling_in_at_once_count_each_day_once(client, flow, fees, at, accounts):
    month = await build_march(client, flow, fees, at)
    at.set(2025, 4, 2, 9, 0)
    await _finish_open_ones(flow, month)
    at.set(2025, 4, 10, 9, 0)
    results = await asyncio.gather(*(capture_missed_days() for _ in range(3)))
    counted = [day for result in results for day in result]
    assert sorted(counted) == sorted(date(2025, 4, 9) - timedelta(days=n) for n in range(31))  # each day once
    async with get_database().read_sessions() as session:
        per_day = dict((await session.execute(
            select(OpenCount.day, func.sum(OpenCount.total)).group_by(OpenCount.day))).all())
    assert per_day[date(2025, 3, 31)] == 3 and per_day[date(2025, 4, 9)] == 1  # nothing counted twice


@pytest.mark.parametrize("days", ["0", "367"])
def test_the_look_back_setting_is_bounded(days, monkeypatch):
    from pydantic import ValidationError

    from app.core.settings import Settings

    monkeypatch.setenv("DVC_OPEN_COUNT_BACKFILL_DAYS", days)
    with pytest.raises(ValidationError, match="open_count_backfill_days"):
        Settings()


async def test_a_day_that_fails_holds_back_no_other_and_is_retried(database_url, at, monkeypatch):
    from app.reporting import tasks

    real = tasks.rebuild_open_counts
    broken = date(2025, 3, 8)

    async def flaky(session, day):  # type: ignore[no-untyped-def]
        if day == broken:
            raise RuntimeError("history unreadable")
        return await real(session, day)

    monkeypatch.setenv("DVC_OPEN_COUNT_BACKFILL_DAYS", "3")
    get_settings.cache_clear()
    try:
        at.set(2025, 3, 10, 9, 0)
        monkeypatch.setattr(tasks, "rebuild_open_counts", flaky)
        with pytest.raises(RuntimeError, match="history unreadable"):
            await capture_missed_days()
        assert set(await _captures()) == {date(2025, 3, 9), date(2025, 3, 7)}  # the broken day left no row
        monkeypatch.setattr(tasks, "rebuild_open_counts", real)
        assert await capture_missed_days() == [broken]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

"""The workflow's time rules on real dates (the `holidays` package's Vietnamese calendar, 2025-2027), probed for
legal correctness: Tết 2026 and 2027, 30 April-1 May, 2 September with its adjacent and swapped days, Vietnam
Culture Day, overrides both ways, receptions near midnight UTC, and internal step allowances in working hours
(8 a day, the lunch break left out: Decision 188/1999/QĐ-TTg). The clock is fixed with `set_clock`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from app.core.clock import LOCAL_TZ
from app.workflow import deadlines
from app.workflow.calendar import WorkingCalendar
from app.workflow.steps import add_working_hours, working_time_between
from tests.workflow.test_supplement_and_endings import at_local, local, set_clock

NATIONAL = WorkingCalendar()


@pytest.mark.parametrize(("received", "days", "due"), [
    # Tết 2026: Monday 16 to Friday 20 February off (with the weekends, 14-22 February).
    (local(2026, 2, 13, 10, 0), 5, date(2026, 2, 27)),
    (local(2026, 2, 14, 10, 0), 1, date(2026, 2, 24)),  # received during Tết: counts from Monday 23
    # Tết 2027: Thursday 4 to Wednesday 10 February off.
    (local(2027, 2, 3, 10, 0), 3, date(2027, 2, 15)),
    # 30 April and 1 May 2026 (Thursday, Friday).
    (local(2026, 4, 29, 10, 0), 2, date(2026, 5, 5)),
    # 2027: 1 May is a Saturday, observed on Monday 3 May.
    (local(2027, 4, 29, 10, 0), 2, date(2027, 5, 5)),
    # 2 September 2026 with its adjacent day (1 September) and the swap: Monday 31 August off, Saturday 22 worked.
    (local(2026, 8, 28, 10, 0), 1, date(2026, 9, 3)),
    (local(2026, 8, 21, 10, 0), 1, date(2026, 8, 22)),
    # 2 and 3 September 2027 (Thursday, Friday).
    (local(2027, 9, 1, 10, 0), 1, date(2027, 9, 6)),
    # Vietnam Culture Day, 24 November, from 2026 (a Tuesday in 2026, a Wednesday in 2027).
    (local(2026, 11, 23, 10, 0), 1, date(2026, 11, 25)),
    (local(2027, 11, 23, 10, 0), 1, date(2027, 11, 25)),
    (local(2025, 11, 21, 10, 0), 1, date(2025, 11, 24)),  # not yet a holiday in 2025
])
def test_due_dates_across_the_holidays_of_2025_to_2027(received: datetime, days: int, due: date) -> None:
    assert deadlines.due_at(received, days, NATIONAL) == datetime.combine(due, time(17), tzinfo=LOCAL_TZ)


def test_receptions_near_midnight_utc_count_by_the_local_day() -> None:
    # 10:30Z on 31 December 2025 is 17:30 local: after hours, so received on Friday 2 January (1 January is off).
    assert deadlines.due_at(datetime(2025, 12, 31, 10, 30, tzinfo=UTC), 1, NATIONAL) == local(2026, 1, 5, 17, 0)
    # 23:30Z on Thursday 12 February 2026 is 06:30 local on Friday 13: a working day, before Tết.
    assert deadlines.due_at(datetime(2026, 2, 12, 23, 30, tzinfo=UTC), 1, NATIONAL) == local(2026, 2, 23, 17, 0)
    # 00:00Z is 07:00 local: the due moment itself is 10:00Z, never a UTC date's end.
    assert deadlines.due_at(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 1, NATIONAL) == datetime(2026, 3, 3, 10, 0,
                                                                                               tzinfo=UTC)


def test_eight_working_hours_make_a_working_day() -> None:
    """Internal processes give steps hours at 8 to the working day (Decision 188/1999/QĐ-TTg: 8 hours a day, 40 a
    week). Counted over 08:00-17:00 lunch included, 8 hours ran out at 16:00 and a week's 40 on Friday at noon."""
    monday = local(2025, 3, 3, 8, 0)
    assert add_working_hours(monday, 8, NATIONAL) == local(2025, 3, 3, 17, 0)
    assert add_working_hours(monday, 16, NATIONAL) == local(2025, 3, 4, 17, 0)
    assert add_working_hours(monday, 40, NATIONAL) == local(2025, 3, 7, 17, 0)
    assert working_time_between(monday, local(2025, 3, 3, 17, 0), NATIONAL) == timedelta(hours=8)


def test_the_lunch_break_is_not_working_time() -> None:
    assert add_working_hours(local(2025, 3, 3, 11, 30), 1, NATIONAL) == local(2025, 3, 3, 13, 30)
    assert working_time_between(local(2025, 3, 3, 11, 0), local(2025, 3, 3, 14, 0), NATIONAL) == timedelta(hours=2)
    # Half a day's 4 hours from 15:00 on the Friday before Tết 2026: 2 that day, 2 on Monday 23 February.
    assert add_working_hours(local(2026, 2, 13, 15, 0), 4, NATIONAL) == local(2026, 2, 23, 10, 0)


def test_the_working_sessions_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.settings import Settings, get_settings

    monkeypatch.setenv("DVC_WORKING_DAY_START", "07:30")
    monkeypatch.setenv("DVC_LUNCH_BREAK_START", "11:30")
    monkeypatch.setenv("DVC_LUNCH_BREAK_END", "13:00")
    get_settings.cache_clear()
    try:
        assert add_working_hours(local(2025, 3, 3, 11, 0), 1, NATIONAL) == local(2025, 3, 3, 13, 30)
        assert add_working_hours(local(2025, 3, 2, 12, 0), 1, NATIONAL) == local(2025, 3, 3, 8, 30)  # Sunday
        monkeypatch.setenv("DVC_LUNCH_BREAK_END", "11:00")
        with pytest.raises(ValueError, match="DVC_LUNCH_BREAK_START"):
            Settings()
    finally:
        monkeypatch.delenv("DVC_WORKING_DAY_START")
        monkeypatch.delenv("DVC_LUNCH_BREAK_START")
        monkeypatch.delenv("DVC_LUNCH_BREAK_END")
        get_settings.cache_clear()


async def test_a_step_allowed_two_days_in_hours_is_within_it_on_the_second_afternoon(flow: Any, monkeypatch):
    """An appraisal allowed 16 working hours (two working days), assigned Monday 08:00 and done Tuesday 16:30: on
    time. With the lunch hours counted it fell due on Tuesday at 15:00 and the slip, hence the public late list,
    blamed the official who held it."""
    set_clock(monkeypatch, 2025, 3, 3, 7, 0)
    code = await flow.procedure(processing_days=10, step_time_limits=[{"step": "appraise", "hours": 16}])
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)  # Monday
    await flow.to_processing(did)
    set_clock(monkeypatch, 2025, 3, 4, 16, 30)
    await flow.act(flow.processing, did, "appraise")
    steps = (await flow.client.get(f"/v1/dossiers/{did}/steps", headers=flow.reception.headers)).json()["items"]
    appraise = next(s for s in steps if s["step"] == "appraise" and s["ended_at"] is not None)
    assert at_local(appraise["due_at"]) == local(2025, 3, 4, 17, 0)
    assert appraise["overran"] is False


async def test_overrides_win_over_the_package_both_ways_on_tet_2027(client: Any, flow: Any, accounts: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The package has 4 February 2027 (29 Tết) off and 12 February working; a province that decides otherwise
    enters overrides, and the due date follows them."""
    admin = await accounts.admin()
    for day, working in (("2027-02-04", True), ("2027-02-12", False)):
        put = await client.put(f"/v1/calendar/overrides/{day}", headers=admin.headers,
                               json={"working": working, "note": "Quyết định của UBND tỉnh"})
        assert put.status_code == 201, put.text
    set_clock(monkeypatch, 2027, 2, 3, 9, 0)
    code = await flow.procedure(processing_days=3)
    citizen, dossier = await flow.submitted(code)
    set_clock(monkeypatch, 2027, 2, 3, 10, 0)  # Wednesday
    received = await flow.act(flow.reception, dossier["id"], "receive")
    # Day 1 the worked 4 February, day 2 Thursday 11, (Friday 12 off), day 3 Monday 15.
    assert at_local(received["due_at"]) == local(2027, 2, 15, 17, 0)
    receipt = (await flow.notices(citizen, dossier["id"]))[0]
    assert receipt["content"]["due_at"] == "2027-02-15T17:00:00+07:00"



async def test_the_apology_deadline_and_new_date_around_tet_2026(flow: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Form 04 is due by the end of the working day before the due date (DVC_APOLOGY_DEADLINE_WORKING_DAYS=1): for
    a dossier due on Monday 23 February 2026, the first day back from Tết, that is Friday 13 February, before Tết.
    The new return date must be a working day after the old one."""
    set_clock(monkeypatch, 2026, 2, 11, 9, 0)  # Wednesday
    code = await flow.procedure(processing_days=3)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    processing = await flow.to_processing(did)
    assert at_local(processing["due_at"]) == local(2026, 2, 23, 17, 0)  # 12, 13, then 23 February
    set_clock(monkeypatch, 2026, 2, 13, 16, 0)  # Friday before Tết: still in time
    same_day = await flow.post(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2026-02-23")
    assert same_day.status_code == 422 and "after the current due date" in same_day.json()["errors"][0]["msg"]
    # 28 February 2026 is an ordinary Saturday: not a working day to promise.
    saturday = await flow.post(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2026-02-28")
    assert saturday.status_code == 422 and "not a working day" in saturday.json()["errors"][0]["msg"]
    apologised = await flow.act(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2026-03-02")
    assert at_local(apologised["due_at"]) == local(2026, 3, 2, 17, 0)
    assert at_local(apologised["original_due_at"]) == local(2026, 2, 23, 17, 0)
    # The next apology is due by the end of Friday 27 February, the working day before the new date.
    set_clock(monkeypatch, 2026, 2, 14, 9, 0)
    assert "apologise" in (await flow.get(flow.processing, did))["next_actions"]


async def test_an_apology_after_the_working_day_before_the_due_date_is_taken_as_late(
        flow: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_clock(monkeypatch, 2026, 2, 11, 9, 0)
    code = await flow.procedure(processing_days=3)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)  # due Monday 23 February 2026
    set_clock(monkeypatch, 2026, 2, 13, 17, 0)  # Friday 13 at 17:00 exactly: still in time
    assert "apologise" in (await flow.get(flow.processing, did))["next_actions"]
    set_clock(monkeypatch, 2026, 2, 13, 17, 1)  # after the working day: the deadline has passed
    late = await flow.act(flow.processing, did, "apologise", reason="Chờ ý kiến", new_due_date="2026-03-02")
    assert at_local(late["due_at"]) == local(2026, 3, 2, 17, 0)
    entry = (await flow.history(flow.processing, did))[-1]
    assert entry["details"]["late"] is True
    assert entry["details"]["apology_deadline"] == "2026-02-13T10:00:00.000000Z"

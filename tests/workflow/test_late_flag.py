"""`late` on the dossier read and list, and `?late=`: the law's lateness against the ORIGINAL due date (Resolution
131: an apology moves `due_at`, so `overdue`, never the original date), judged as the reports judge it, with a
supplement wait asked in time excusing the dossier while it lasts. The clock is fixed on real dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.workflow.progress import is_late
from tests.support.paging import every_item
from tests.workflow.test_overdue_during_supplement import _supplement_asked
from tests.workflow.test_supplement_and_endings import at_local, local, set_clock

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


async def _ids(flow: Any, query: str, limit: int = 200) -> list[str]:
    """The ids `GET /v1/dossiers?{query}` lists, every page (`limit` a page) by its cursor."""
    found: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        params = {**dict(pair.split("=") for pair in query.split("&")), "limit": str(limit)}
        response = await flow.client.get("/v1/dossiers", headers=flow.processing.headers,
                                         params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        found += [item["id"] for item in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor does not end")


async def _item(flow: Any, dossier_id: str) -> dict[str, Any]:
    items = await every_item(flow.client, "/v1/dossiers", flow.processing.headers)
    return next(item for item in items if item["id"] == dossier_id)


async def _finish(flow: Any, dossier_id: str) -> dict[str, Any]:
    await flow.act(flow.processing, dossier_id, "appraise")
    await flow.act(flow.approval, dossier_id, "approve")
    result = await flow.upload_result(dossier_id, PDF)
    return await flow.act(flow.approval, dossier_id, "issue_result", attachments=[result])


async def test_apologised_dossier_is_late_not_overdue_and_stays_late_when_finished(flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=2)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    await flow.to_processing(did)  # due Wednesday 5 March, 17:00
    set_clock(monkeypatch, 2025, 3, 4, 10, 0)
    view = await flow.get(flow.processing, did)
    assert (view["overdue"], view["late"]) == (False, False)
    assert did in await _ids(flow, "late=false") and did not in await _ids(flow, "late=true")

    set_clock(monkeypatch, 2025, 3, 7, 10, 0)
    apologised = await flow.act(flow.processing, did, "apologise", reason="Chờ ý kiến của Sở Y tế",
                                new_due_date="2025-03-12")
    assert at_local(apologised["original_due_at"]) == local(2025, 3, 5, 17, 0)
    assert (apologised["overdue"], apologised["late"]) == (False, True)  # the transition's answer too
    view = await flow.get(flow.processing, did)
    assert (view["overdue"], view["late"]) == (False, True)
    item = await _item(flow, did)
    assert (item["overdue"], item["late"]) == (False, True)
    assert did in await _ids(flow, "late=true") and did not in await _ids(flow, "late=false")
    assert did not in await _ids(flow, "overdue=true") and did in await _ids(flow, "overdue=false")
    assert did in await _ids(flow, "late=true&overdue=false&state=processing")
    assert did not in await _ids(flow, "late=true&state=received")

    set_clock(monkeypatch, 2025, 3, 10, 9, 0)  # before the apology's date, after the original one
    processed = await _finish(flow, did)
    assert processed["state"] == "processed" and (processed["overdue"], processed["late"]) == (False, True)
    set_clock(monkeypatch, 2025, 4, 2, 9, 0)
    assert (await flow.get(flow.processing, did))["late"] is True
    assert (await _item(flow, did))["late"] is True
    assert did in await _ids(flow, "late=true&state=processed")


async def test_supplement_asked_in_time_is_not_late_while_waiting_one_asked_late_is(flow, monkeypatch):
    in_time = await _supplement_asked(flow, monkeypatch, 5, (2025, 3, 4, 10, 0))  # due Mon 10 Mar 17:00
    asked_late = await _supplement_asked(flow, monkeypatch, 1, (2025, 3, 5, 10, 0))  # due Tue 4 Mar 17:00
    set_clock(monkeypatch, 2025, 3, 20, 9, 0)  # the calendar passes both original dates while they wait
    assert (await flow.get(flow.processing, in_time))["late"] is False
    assert (await flow.get(flow.processing, asked_late))["late"] is True
    assert (await _item(flow, in_time))["late"] is False and (await _item(flow, asked_late))["late"] is True
    late = await _ids(flow, "late=true")
    assert asked_late in late and in_time not in late
    assert in_time in await _ids(flow, "late=false&state=supplement_requested")


async def test_late_filter_agrees_with_the_read_field_on_a_mixed_set(flow, monkeypatch):
    """Every state the rule tells apart, read one by one and listed by `?late=` (small pages: the cursor)."""
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    two_days = await flow.procedure(processing_days=2, clock_on_supplement="pause")
    five_days = await flow.procedure(processing_days=5, clock_on_supplement="pause")
    made: dict[str, tuple[Any, str]] = {}
    for name, code in [("apologised_finished", two_days), ("running_late", two_days), ("running_in_time", five_days),
                       ("waiting_asked_late", two_days), ("waiting_asked_in_time", five_days),
                       ("finished_in_time", two_days), ("not_received", two_days), ("withdrawn_late", two_days)]:
        citizen, dossier = await flow.submitted(code)
        made[name] = (citizen, dossier["id"])
    ids = {name: did for name, (_, did) in made.items()}
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    for name, did in ids.items():
        if name != "not_received":
            await flow.to_processing(did)  # due Wed 5 Mar 17:00 (two days) or Mon 10 Mar 17:00 (five)
    set_clock(monkeypatch, 2025, 3, 4, 10, 0)
    await flow.act(flow.processing, ids["waiting_asked_in_time"], "request_supplement", items=["Bản sao"])
    await _finish(flow, ids["finished_in_time"])
    set_clock(monkeypatch, 2025, 3, 6, 10, 0)
    await flow.act(flow.processing, ids["waiting_asked_late"], "request_supplement", items=["Bản sao"])
    citizen, _ = made["withdrawn_late"]
    await flow.act(citizen, ids["withdrawn_late"], "withdraw")
    set_clock(monkeypatch, 2025, 3, 7, 10, 0)
    await flow.act(flow.processing, ids["apologised_finished"], "apologise", reason="Chờ ý kiến",
                   new_due_date="2025-03-12")
    set_clock(monkeypatch, 2025, 3, 10, 9, 0)
    await _finish(flow, ids["apologised_finished"])
    set_clock(monkeypatch, 2025, 3, 10, 12, 0)

    expected = {"apologised_finished": True, "running_late": True, "running_in_time": False,
                "waiting_asked_late": True, "waiting_asked_in_time": False, "finished_in_time": False,
                "not_received": False, "withdrawn_late": False}
    read = {name: (await flow.get(flow.processing, did))["late"] for name, did in ids.items()}
    assert read == expected
    listed = {item["id"]: item["late"] for item in await every_item(flow.client, "/v1/dossiers",
                                                                     flow.processing.headers)}
    assert {name: listed[did] for name, did in ids.items()} == read
    late = await _ids(flow, "late=true", limit=2)
    on_time = await _ids(flow, "late=false", limit=2)
    assert len(late) == len(set(late)) and len(on_time) == len(set(on_time))  # the cursor neither repeats nor skips
    assert {name for name, did in ids.items() if did in late} == {name for name, v in read.items() if v}
    assert {name for name, did in ids.items() if did in on_time} == {name for name, v in read.items() if not v}
    assert set(await _ids(flow, "late=true&overdue=true")) == {ids["running_late"], ids["waiting_asked_late"]}
    assert set(await _ids(flow, "late=true&overdue=false")) == {ids["apologised_finished"]}
    # Four hours later the five-day dossier still running is behind its date: the field and filter move with it.
    set_clock(monkeypatch, 2025, 3, 10, 17, 1)
    assert (await flow.get(flow.processing, ids["running_in_time"]))["late"] is True
    assert ids["running_in_time"] in await _ids(flow, "late=true", limit=3)
    assert ids["waiting_asked_in_time"] in await _ids(flow, "late=false", limit=3)


DUE = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
NOW = DUE + timedelta(days=10)


@pytest.mark.parametrize(("row", "progress", "late"), [
    ({"state": "processing", "due_at": DUE, "finished_at": None}, {}, True),
    ({"state": "processing", "due_at": NOW + timedelta(days=1), "finished_at": None}, {"original_due_at": DUE}, True),
    ({"state": "processing", "due_at": NOW + timedelta(days=1), "finished_at": None}, {}, False),
    ({"state": "received", "due_at": NOW, "finished_at": None}, {}, False),  # at the due moment: still in time
    # A late wait, answered: the date moved out, the lateness did not (`late_since`).
    ({"state": "processing", "due_at": NOW + timedelta(days=3), "finished_at": None},
     {"original_due_at": NOW + timedelta(days=3), "late_since": DUE}, True),
    ({"state": "supplement_requested", "due_at": DUE, "finished_at": None}, {"paused_at": DUE}, False),
    ({"state": "supplement_requested", "due_at": DUE, "finished_at": None},
     {"paused_at": DUE + timedelta(seconds=1), "late_since": DUE}, True),
    ({"state": "supplement_requested", "due_at": DUE, "finished_at": None}, {"paused_at": None}, False),
    ({"state": "processed", "due_at": NOW, "finished_at": DUE + timedelta(days=1)}, {"original_due_at": DUE}, True),
    ({"state": "returned", "due_at": DUE, "finished_at": DUE}, {}, False),
    ({"state": "stopped", "due_at": DUE, "finished_at": DUE + timedelta(seconds=1)}, {}, True),
    ({"state": "withdrawn", "due_at": DUE, "finished_at": NOW}, {}, False),
    ({"state": "refused", "due_at": None, "finished_at": NOW}, {}, False),
    ({"state": "submitted", "due_at": None, "finished_at": None}, {}, False),
])
def test_is_late_table(row: dict[str, Any], progress: dict[str, Any], late: bool) -> None:
    values = {"original_due_at": None, "late_since": None, "paused_at": None, **progress}
    assert is_late(row, NOW, **values) is late

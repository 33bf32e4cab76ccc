"""A supplement request pauses the clock, it does not excuse lateness that came before it.

A dossier already past its due date when an official asks for a supplement stays overdue while the applicant
answers: in its `overdue` field, the officials' `?overdue=true` queue, the public late list (UBND 442) and the
Decision 766 progress figures. One asked before its due date is not late while it waits, however long the wait
(the pause rule: the due date moves out when the supplement comes in). The clock is fixed on real dates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.workflow.progress import is_overdue
from tests.workflow.test_domain_review import MARCH, _indicators
from tests.workflow.test_supplement_and_endings import at_local, local, set_clock


async def _listed(flow: Any, overdue: bool) -> set[str]:
    query = f"/v1/dossiers?overdue={'true' if overdue else 'false'}&limit=100"
    response = await flow.client.get(query, headers=flow.processing.headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def _listed_item(flow: Any, dossier_id: str) -> dict[str, Any]:
    response = await flow.client.get("/v1/dossiers?limit=100", headers=flow.processing.headers)
    assert response.status_code == 200, response.text
    return next(item for item in response.json()["items"] if item["id"] == dossier_id)


async def _late_list(flow: Any) -> list[dict[str, Any]]:
    from app.reporting.cache import public_cache

    public_cache.clear()  # a fresh answer for the clock as set now
    response = await flow.client.get("/v1/public/late-dossiers", params=MARCH)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _supplement_asked(flow: Any, monkeypatch: Any, processing_days: int, asked_on: tuple[int, ...]) -> str:
    """A dossier received and assigned on Monday 3 March 2025 at 09:00, a supplement asked at `asked_on`."""
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=processing_days, clock_on_supplement="pause")
    _, dossier = await flow.submitted(code)
    did: str = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    await flow.to_processing(did)
    set_clock(monkeypatch, *asked_on)
    asked = await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    assert asked["state"] == "supplement_requested"
    return did


async def test_dossier_late_before_the_supplement_request_stays_overdue_while_waiting(client, flow, accounts,
                                                                                      monkeypatch):
    did = await _supplement_asked(flow, monkeypatch, 1, (2025, 3, 5, 10, 0))  # due Tue 4 Mar 17:00: a day late
    view = await flow.get(flow.processing, did)
    assert at_local(view["due_at"]) == local(2025, 3, 4, 17, 0)
    assert view["overdue"] is True
    set_clock(monkeypatch, 2025, 3, 20, 9, 0)  # the applicant takes two weeks
    assert (await flow.get(flow.processing, did))["overdue"] is True
    assert (await _listed_item(flow, did))["overdue"] is True  # the list's field agrees with the filter
    assert did in await _listed(flow, overdue=True)
    assert did not in await _listed(flow, overdue=False)
    [agency] = await _late_list(flow)
    assert {k: agency[k] for k in ("handled", "finished_late", "still_overdue", "late", "late_share")} == {
        "handled": 1, "finished_late": 0, "still_overdue": 1, "late": 1, "late_share": 1.0}
    assert [(o["late"], o["steps"]) for o in agency["officials"]] == [(1, {"in_progress": 1})]
    progress = (await _indicators(client, accounts))["progress"]
    assert (progress["overdue_open"]["numerator"], progress["overdue_open"]["denominator"]) == (1, 1)
    assert progress["finished_on_time"]["numerator"] == 0 and progress["finished_on_time"]["denominator"] == 1


async def test_dossier_not_yet_late_when_asked_is_not_overdue_while_waiting(client, flow, accounts, monkeypatch):
    did = await _supplement_asked(flow, monkeypatch, 5, (2025, 3, 4, 10, 0))  # due Mon 10 Mar 17:00
    set_clock(monkeypatch, 2025, 3, 20, 9, 0)  # the calendar passes the old due date while the applicant waits
    view = await flow.get(flow.processing, did)
    assert at_local(view["due_at"]) == local(2025, 3, 10, 17, 0) and view["overdue"] is False
    assert (await _listed_item(flow, did))["overdue"] is False
    assert did not in await _listed(flow, overdue=True)
    assert did in await _listed(flow, overdue=False)
    assert await _late_list(flow) == []  # waiting on the applicant: neither handled nor late
    progress = (await _indicators(client, accounts))["progress"]
    assert progress["overdue_open"]["denominator"] in (0, None)


async def test_supplement_asked_at_the_due_moment_is_not_late() -> None:
    due = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    row = {"state": "supplement_requested", "due_at": due, "finished_at": None}
    later = datetime(2025, 4, 1, tzinfo=UTC)
    assert is_overdue(row, later, paused_at=due) is False  # on time up to the due moment itself
    assert is_overdue(row, later, paused_at=datetime(2025, 3, 4, 10, 0, 1, tzinfo=UTC)) is True
    assert is_overdue({**row, "due_at": None}, later, paused_at=due) is False  # asked at reception: no clock
    assert is_overdue(row, later, paused_at=None) is False
    assert is_overdue({**row, "finished_at": later}, later, paused_at=later) is False

"""The step under way ends the process control slip (GET /v1/dossiers/{id}/steps): who holds the dossier now,
since when, against which allowance, and whether it has overrun already.

Completed steps are rows written once with the history entry that completed them; the step under way is worked
out from the dossier's progress (its assignment, the start of its step, the version's allowances), so neither the
slip nor the hash-chained history is ever updated.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.paging import every_item
from tests.workflow.test_supplement_and_endings import at_local, local, set_clock

LIMITS = [{"step": "reception", "hours": 2}, {"step": "appraise", "working_days": 1},
          {"step": "approve", "working_days": 1}]


async def _slip(flow: Any, dossier_id: str) -> list[dict[str, Any]]:
    return await every_item(flow.client, f"/v1/dossiers/{dossier_id}/steps", flow.reception.headers)


async def _in_processing(flow: Any, monkeypatch: pytest.MonkeyPatch, **procedure: Any) -> tuple[Any, str]:
    """A dossier received on Monday 3 March 2025 at 9:00 and assigned: the appraisal under way. The procedure has
    10 processing days and the LIMITS allowances unless `procedure` says otherwise."""
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    code = await flow.procedure(**{"processing_days": 10, "step_time_limits": LIMITS, **procedure})
    citizen, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    return citizen, dossier["id"]


async def test_the_slip_ends_with_the_step_under_way_and_who_holds_it(flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    code = await flow.procedure(processing_days=10, step_time_limits=LIMITS)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    [reception] = await _slip(flow, did)
    assert (reception["step"], reception["ended_at"], reception["history_seq"], reception["holder_id"]) == (
        "reception", None, None, None)  # at the desk: nobody named yet
    assert at_local(reception["started_at"]) == local(2025, 3, 3, 9, 0)
    assert at_local(reception["due_at"]) == local(2025, 3, 3, 11, 0) and reception["overran"] is False

    set_clock(monkeypatch, 2025, 3, 3, 10, 0)
    await flow.act(flow.reception, did, "receive")
    assign = (await _slip(flow, did))[-1]
    assert (assign["step"], assign["ended_at"], assign["holder_id"], assign["overran"]) == (
        "assign", None, None, None)  # no allowance, and not assigned to anyone yet

    await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))
    slip = await _slip(flow, did)
    assert [(s["step"], s["ended_at"] is None) for s in slip] == [("reception", False), ("assign", False),
                                                                    ("appraise", True)]
    appraise = slip[-1]
    assert (appraise["holder_id"], appraise["holder_name"]) == (str(flow.processing.id), "Phạm Văn Thẩm Định")
    assert appraise["allowance_working_days"] == 1 and at_local(appraise["started_at"]) == local(2025, 3, 3, 10, 0)
    assert at_local(appraise["due_at"]) == local(2025, 3, 4, 17, 0) and appraise["overran"] is False

    set_clock(monkeypatch, 2025, 3, 5, 9, 0)  # nothing happened: the appraisal under way has overrun
    assert (await _slip(flow, did))[-1]["overran"] is True
    await flow.act(flow.processing, did, "appraise")
    approve = (await _slip(flow, did))[-1]
    assert (approve["step"], approve["holder_id"], approve["overran"]) == ("approve", str(flow.processing.id), False)
    assert at_local(approve["due_at"]) == local(2025, 3, 6, 17, 0)


async def test_a_supplement_wait_suspends_the_step_under_way(flow, monkeypatch):
    # The appraisal under way from Mon 9:00, due Tue 17:00; the dossier due Mon 17 Mar.
    citizen, did = await _in_processing(flow, monkeypatch, clock_on_supplement="pause")
    set_clock(monkeypatch, 2025, 3, 4, 10, 0)
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    set_clock(monkeypatch, 2025, 3, 10, 9, 0)  # the applicant's week is not the official's
    waiting = (await _slip(flow, did))[-1]
    assert (waiting["step"], waiting["holder_id"], waiting["overran"]) == ("appraise", str(flow.processing.id), False)
    file_id = await flow.upload_supplement(citizen, did)
    answered = await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert at_local(answered["due_at"]) == local(2025, 3, 21, 17, 0)  # moved out by 4 working days (Wed-Mon)
    resumed = (await _slip(flow, did))[-1]
    # The step moves out by the same 4 working days: it starts on Friday (Monday + 4), at the hour it began, and
    # falls due at the end of Monday (Tuesday + 4), as `close_step` will judge it. Shifted by the wall-clock wait
    # (6 days less an hour) it began on Sunday 08:00 and fell due on Tuesday 11 March, a working day later.
    assert at_local(resumed["started_at"]) == local(2025, 3, 7, 9, 0)
    assert at_local(resumed["due_at"]) == local(2025, 3, 10, 17, 0) and resumed["overran"] is False
    # Form 05's time of hand-over is when the official really got the dossier: the wait does not move it.
    assert at_local(resumed["handed_over_at"]) == local(2025, 3, 3, 9, 0)
    set_clock(monkeypatch, 2025, 3, 10, 16, 0)
    await flow.act(flow.processing, did, "appraise")
    done = next(s for s in await _slip(flow, did) if s["step"] == "appraise")
    assert (at_local(done["handed_over_at"]), at_local(done["started_at"])) == (local(2025, 3, 3, 9, 0),
                                                                               local(2025, 3, 7, 9, 0))
    assert done["overran"] is False
    following = (await _slip(flow, did))[-1]
    assert at_local(following["handed_over_at"]) == at_local(following["started_at"]) == local(2025, 3, 10, 16, 0)


async def test_a_step_allowed_in_hours_gets_back_the_working_hours_waited(flow, monkeypatch):
    """A reception allowed 2 working hours, half an hour of them used on Friday before the desk asked for a
    supplement, answered on Sunday: 1.5 working hours are left from Monday's opening, until 09:30. Shifted by the
    wall-clock wait, the step started on Sunday 09:30 and fell due at 10:00."""
    set_clock(monkeypatch, 2025, 3, 7, 16, 0)  # Friday
    code = await flow.procedure(processing_days=10, step_time_limits=LIMITS)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 7, 16, 30)
    await flow.act(flow.reception, did, "request_supplement", items=["Bản sao giấy phép"])
    set_clock(monkeypatch, 2025, 3, 9, 10, 0)  # Sunday
    file_id = await flow.upload_supplement(citizen, did)
    await flow.act(citizen, did, "supplement", attachments=[file_id])
    [reception] = await _slip(flow, did)
    assert at_local(reception["started_at"]) == local(2025, 3, 7, 16, 30)  # + the half hour waited on Friday
    assert at_local(reception["due_at"]) == local(2025, 3, 10, 9, 30)
    set_clock(monkeypatch, 2025, 3, 10, 9, 45)
    await flow.act(flow.reception, did, "receive")
    assert (await _slip(flow, did))[0]["overran"] is True


async def test_a_restarted_clock_restarts_the_step_under_way(flow, monkeypatch):
    """Under the restart rule the dossier is received anew when the supplement arrives, with all its processing
    days again: the step under way starts again then too, with its whole allowance."""
    # The appraisal under way, due Thu 6 Mar 17:00.
    citizen, did = await _in_processing(flow, monkeypatch, step_time_limits=[{"step": "appraise", "working_days": 3}],
                                        clock_on_supplement="restart")
    set_clock(monkeypatch, 2025, 3, 5, 16, 0)
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    set_clock(monkeypatch, 2025, 3, 10, 9, 0)
    file_id = await flow.upload_supplement(citizen, did)
    answered = await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert at_local(answered["received_at"]) == local(2025, 3, 10, 9, 0)
    resumed = (await _slip(flow, did))[-1]
    assert at_local(resumed["started_at"]) == local(2025, 3, 10, 9, 0)
    assert at_local(resumed["due_at"]) == local(2025, 3, 13, 17, 0)
    assert at_local(resumed["handed_over_at"]) == local(2025, 3, 10, 9, 0)  # received anew: handed over anew


async def test_no_step_is_under_way_once_the_result_is_returned_and_the_return_is_the_desks(flow, monkeypatch):
    _, did = await _in_processing(flow, monkeypatch)
    await flow.act(flow.processing, did, "appraise")
    await flow.act(flow.approval, did, "approve")
    result = await flow.upload_result(did, b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    await flow.act(flow.approval, did, "issue_result", attachments=[result])
    under_way = (await _slip(flow, did))[-1]
    assert (under_way["step"], under_way["ended_at"], under_way["holder_id"]) == ("return_result", None, None)
    await flow.act(flow.reception, did, "return_result", delivery={"method": "desk"})
    assert all(s["ended_at"] is not None for s in await _slip(flow, did))


async def test_a_dossier_in_flight_before_the_step_was_kept_has_it_worked_out(flow, monkeypatch):
    """Migration 0024 leaves the kept step empty for dossiers in flight: the slip works it out as a transition
    would, from the last completed step."""
    from sqlalchemy import update

    from app.core.db import get_database
    from app.workflow.models import DossierProgress

    _, did = await _in_processing(flow, monkeypatch)
    await flow.act(flow.processing, did, "appraise")
    kept = (await _slip(flow, did))[-1]
    async with get_database().write_engine.begin() as connection:
        cleared = await connection.execute(update(DossierProgress).where(
            DossierProgress.dossier_id == uuid.UUID(did)).values(step_under_way=None, step_due_at=None))
        assert cleared.rowcount == 1
    assert (await _slip(flow, did))[-1] == kept
    assert (kept["step"], kept["holder_id"], kept["allowance_working_days"]) == ("approve", str(flow.processing.id), 1)


@pytest.mark.parametrize("workflow", ["standard", "no_fee"])
async def test_a_stop_closes_the_step_under_way_under_its_own_name(flow, monkeypatch, workflow):
    """The last step of a stopped dossier is on the slip (it was missing: `stop` recorded no step), named after the
    step it ended, with that step's allowance, held by whoever stopped the dossier; nothing is under way after."""
    _, did = await _in_processing(flow, monkeypatch, workflow=workflow)  # the appraisal under way, due Tue 4 Mar 17:00
    set_clock(monkeypatch, 2025, 3, 5, 9, 0)
    await flow.act(flow.processing, did, "stop", reason="Thuộc trường hợp dừng xử lý")
    slip = await _slip(flow, did)
    assert [(s["step"], s["ended_at"] is None) for s in slip] == [("reception", False), ("assign", False),
                                                                    ("appraise", False)]
    stopped = slip[-1]
    assert (stopped["holder_id"], stopped["allowance_working_days"], stopped["overran"]) == (
        str(flow.processing.id), 1, True)
    assert at_local(stopped["due_at"]) == local(2025, 3, 4, 17, 0) and at_local(stopped["ended_at"]) == local(
        2025, 3, 5, 9, 0)
    entry = (await flow.history(flow.reception, did))[-1]
    assert (entry["action"], entry["seq"], entry["details"]["step"]["step"]) == ("stop", stopped["history_seq"],
                                                                                 "appraise")


async def test_a_stop_during_the_approval_approves_nothing_and_is_recorded_as_that_step(flow, monkeypatch):
    _, did = await _in_processing(flow, monkeypatch)
    await flow.act(flow.processing, did, "appraise")  # the approval is under way
    await flow.act(flow.approval, did, "stop", reason="Hồ sơ giả mạo")
    stopped = (await _slip(flow, did))[-1]
    assert (stopped["step"], stopped["holder_id"], stopped["allowance_working_days"]) == (
        "approve", str(flow.approval.id), 1)

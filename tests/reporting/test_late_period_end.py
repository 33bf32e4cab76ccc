"""The public late list of a period that is over is measured at its end (`open_counted_at`), not when it is read.

A list published for March records March: the dossiers finished late in March, and those open and past their
original due date when March ended. Measured when read, a March list read in May lost a dossier that was overdue
at the end of March and finished in April, counted as overdue in March one that only fell due in April, and
changed with every later event.
"""

from __future__ import annotations

from typing import Any

from app.reporting.cache import public_cache
from tests.reporting.conftest import PDF
from tests.support.paging import every_item

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
APRIL = {"from": "2025-04-01", "to": "2025-04-30"}
MARCH_END = "2025-03-31T17:00:00Z"  # the midnight after 31 March, local time


async def _list(client: Any, period: dict[str, str]) -> dict[str, Any]:
    public_cache.clear()  # the list is cached briefly
    response = await client.get("/v1/public/late-dossiers", params=period)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _figures(body: dict[str, Any]) -> list[tuple[int, int, int, int, int]]:
    return [(i["handled"], i["finished_late"], i["still_overdue"], i["late"], i["apologised"]) for i in body["items"]]


def _officials(body: dict[str, Any]) -> dict[str, tuple[int, int, dict[str, int]]]:
    return {o["name"]: (o["handled"], o["late"], o["steps"]) for item in body["items"] for o in item["officials"]}


async def _in_processing(flow: Any, at: Any, **procedure: Any) -> tuple[Any, str]:
    """A dossier of a 3-day procedure submitted on Monday 3 March 2025 at 8:00, received and assigned at 9:00: due
    Thu 6 Mar 17:00."""
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=3, **procedure)
    citizen, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    await flow.to_processing(dossier["id"])
    return citizen, dossier["id"]


async def _finish(flow: Any, dossier_id: str) -> None:
    await flow.act(flow.processing, dossier_id, "appraise")
    await flow.act(flow.approval, dossier_id, "approve")
    result = await flow.upload_result(dossier_id, PDF)
    await flow.act(flow.approval, dossier_id, "issue_result", attachments=[result])


async def test_a_dossier_overdue_when_march_ended_stays_so_in_marchs_list_once_finished(client, flow, at):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=3)
    _, late = await flow.submitted(code)
    withdrawn_citizen, withdrawn = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    for dossier in (late, withdrawn):
        await flow.to_processing(dossier["id"])  # due Thu 6 Mar 17:00
    at.set(2025, 4, 1, 0, 10)  # just after March
    published = await _list(client, MARCH)
    assert published["open_counted_at"] == MARCH_END
    assert _figures(published) == [(2, 0, 2, 2, 0)]
    assert _officials(published) == {"Phạm Văn Thẩm Định": (2, 2, {"in_progress": 2})}

    at.set(2025, 4, 3, 9, 0)
    await flow.act(withdrawn_citizen, withdrawn["id"], "withdraw")  # after March: judged as it was then
    at.set(2025, 4, 10, 9, 0)
    await _finish(flow, late["id"])  # finished late in April
    at.set(2025, 5, 5, 9, 0)
    march = await _list(client, MARCH)
    assert march["open_counted_at"] == MARCH_END and march["generated_at"] != published["generated_at"]
    # Both still overdue when March ended (before: gone from March, as neither is open now nor finished in March).
    assert _figures(march) == _figures(published)
    assert _officials(march) == _officials(published)
    assert _figures(await _list(client, APRIL)) == [(1, 1, 0, 1, 0)]  # and finished late in April


async def test_a_dossier_that_fell_due_in_april_is_not_overdue_in_marchs_list(client, flow, at):
    at.set(2025, 3, 28, 8, 0)  # Friday
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    at.set(2025, 3, 28, 9, 0)
    await flow.to_processing(dossier["id"])  # due Fri 4 Apr 17:00
    at.set(2025, 4, 20, 9, 0)
    march = await _list(client, MARCH)
    # Open when March ended, within its time (before: still overdue in March, as it is overdue now).
    assert _figures(march) == [(1, 0, 0, 0, 0)] and _officials(march) == {}
    assert _figures(await _list(client, APRIL)) == [(1, 0, 1, 1, 0)]


async def test_a_late_supplement_request_after_march_does_not_undo_the_lateness_in_march(client, flow, at):
    citizen, did = await _in_processing(flow, at, clock_on_supplement="pause")
    at.set(2025, 4, 1, 9, 0)  # late already
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    at.set(2025, 5, 6, 9, 0)
    file_id = await flow.upload_supplement(citizen, did)
    answered = await flow.act(citizen, did, "supplement", attachments=[file_id])
    # The applicant's 22 working days moved the original due date out to 8 April, past the end of March...
    assert answered["original_due_at"] == "2025-04-08T10:00:00Z"
    march = await _list(client, MARCH)
    # ...but the dossier had fallen behind on 6 March (before: not overdue in March by its due date now).
    assert _figures(march) == [(1, 0, 1, 1, 0)]
    assert _officials(march) == {"Phạm Văn Thẩm Định": (1, 1, {"in_progress": 1})}


async def test_an_apology_does_not_excuse_a_dossier_overdue_when_march_ended(client, flow, at):
    _, did = await _in_processing(flow, at)
    at.set(2025, 3, 5, 10, 0)
    await flow.act(flow.processing, did, "apologise", reason="Cần xác minh thêm", new_due_date="2025-04-15")
    at.set(2025, 4, 10, 9, 0)
    await _finish(flow, did)  # before the apology's date, after the original one
    at.set(2025, 5, 5, 9, 0)
    # Late against the original due date in both months, with its apology (form 04) counted.
    assert _figures(await _list(client, MARCH)) == [(1, 0, 1, 1, 1)]
    assert _figures(await _list(client, APRIL)) == [(1, 1, 0, 1, 1)]


async def test_the_step_under_way_when_march_ended_is_named_by_the_slip_once_completed(client, flow, at):
    """While under way, the step is held by the assignee; once completed, the slip says who held it."""
    _, did = await _in_processing(flow, at)
    at.set(2025, 3, 4, 9, 0)
    await flow.act(flow.processing, did, "appraise")  # then the approval is under way, with no allowance
    at.set(2025, 4, 1, 0, 10)
    assert _officials(await _list(client, MARCH)) == {"Phạm Văn Thẩm Định": (1, 1, {"in_progress": 1})}
    at.set(2025, 4, 8, 9, 0)
    await flow.act(flow.approval, did, "approve")  # the approval held it from 4 March to 8 April
    at.set(2025, 5, 5, 9, 0)
    march = await _list(client, MARCH)
    assert _figures(march) == [(1, 0, 1, 1, 0)]
    # (Measured now, the March list blamed the assignee for holding it in the step under way in May.)
    assert _officials(march) == {"Nguyễn Văn Duyệt": (1, 1, {"in_progress": 1})}


async def test_a_supplement_wait_after_march_does_not_give_back_a_step_deadline_missed_in_march(client, flow, at):
    """The step under way had overrun its allowance before March ended; a supplement wait in April and May must
    not move its deadline past the end of March (it was: the wait shifted the step's start, and with it a deadline
    already missed, so the March list stopped blaming its holder once the applicant answered)."""
    # Due Thu 6 Mar 17:00; the appraisal under way due Tue 4 Mar 17:00.
    citizen, did = await _in_processing(flow, at, clock_on_supplement="pause",
                                        step_time_limits=[{"step": "appraise", "working_days": 1}])
    at.set(2025, 4, 1, 0, 10)
    blamed = {"Phạm Văn Thẩm Định": (1, 1, {"appraise": 1})}
    assert _officials(await _list(client, MARCH)) == blamed
    at.set(2025, 4, 2, 9, 0)
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    at.set(2025, 5, 6, 9, 0)
    file_id = await flow.upload_supplement(citizen, did)
    await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert _officials(await _list(client, MARCH)) == blamed
    at.set(2025, 5, 7, 9, 0)
    await flow.act(flow.processing, did, "appraise")  # the slip records the step that overran in March
    assert _officials(await _list(client, MARCH)) == blamed
    [*_, appraisal] = [s for s in await every_item(client, f"/v1/dossiers/{did}/steps", flow.reception.headers)
                       if s["step"] == "appraise"]
    assert (appraisal["due_at"], appraisal["overran"]) == ("2025-03-04T10:00:00Z", True)


async def test_a_stop_after_march_ends_the_step_that_overran_in_march_and_april_blames_it_too(client, flow, at):
    """A stop closes the step under way on the slip like any action that ends a step. It used to record none: the
    March list then stopped naming the step that overran (its holder moved to `in_progress`), and April's, where
    the stopped dossier is finished late, blamed nobody."""
    # Due Thu 6 Mar 17:00; the appraisal under way due Tue 4 Mar 17:00.
    _, did = await _in_processing(flow, at, step_time_limits=[{"step": "appraise", "working_days": 1}])
    at.set(2025, 4, 1, 0, 10)
    blamed = {"Phạm Văn Thẩm Định": (1, 1, {"appraise": 1})}
    assert _officials(await _list(client, MARCH)) == blamed
    at.set(2025, 4, 3, 9, 0)
    await flow.act(flow.processing, did, "stop", reason="Thuộc trường hợp dừng xử lý")
    at.set(2025, 5, 5, 9, 0)
    march = await _list(client, MARCH)
    assert _figures(march) == [(1, 0, 1, 1, 0)] and _officials(march) == blamed
    april = await _list(client, APRIL)
    assert _figures(april) == [(1, 1, 0, 1, 0)] and _officials(april) == blamed

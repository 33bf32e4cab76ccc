"""Who the public late list blames for an open overdue dossier, and what a withdrawal does to it.

The process control slip (dossier_steps) records each completed step, held by the official who completed it; the
step under way is worked out from the dossier's progress (app.workflow.steps): held by the official the dossier is
assigned to, with its own deadline from the version's allowance. So an official who completed their step within
its allowance is not blamed for the lateness that follows; whoever holds the step under way is, under that step's
name when it has overrun its allowance, under `in_progress` when it has none, and not while it is within it (the
lateness happened before it reached them). A supplement wait stops the step's clock as it stops the dossier's.
A dossier withdrawn by the applicant is neither finished nor open (issue 9: "dossiers finished late or still
overdue"; the Decision 766 counters treat it the same way), so it leaves the list even if it was overdue (withdrawn
while the period runs; a past period judges one withdrawn after it by its history: test_late_withdrawn_since.py).
"""

from __future__ import annotations

from typing import Any

from app.reporting.cache import public_cache
from tests.support.identity_fixtures import DEFAULT_AGENCY

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


async def _march(client: Any) -> dict[str, Any]:
    response = await client.get("/v1/public/late-dossiers", params=MARCH)
    assert response.status_code == 200, response.text
    return response.json()


def _officials(body: dict[str, Any]) -> dict[str, tuple[int, int, dict[str, int]]]:
    return {o["name"]: (o["handled"], o["late"], o["steps"]) for item in body["items"] for o in item["officials"]}


async def test_an_official_who_appraised_in_time_is_not_blamed_for_the_overdue_dossier(client, flow, at, accounts):
    other = await accounts.official(DEFAULT_AGENCY, ["processing"], name="Đỗ Thị Thẩm Định")
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=3, step_time_limits=[{"step": "appraise", "working_days": 1}])
    _, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    await flow.to_processing(dossier["id"])  # assigned to the first processing official
    at.set(2025, 3, 4, 9, 0)
    await flow.act(other, dossier["id"], "appraise")  # the second appraises, within the day allowed
    at.set(2025, 3, 12, 9, 0)  # due Thu 6 Mar 17:00; still waiting for approval
    body = await _march(client)
    assert [(i["still_overdue"], i["late"]) for i in body["items"]] == [(1, 1)]
    assert _officials(body) == {"Phạm Văn Thẩm Định": (1, 1, {"in_progress": 1})}


async def test_a_dossier_withdrawn_after_it_went_overdue_leaves_the_list(client, flow, at, accounts):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=2)
    citizen, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    await flow.to_processing(dossier["id"])
    at.set(2025, 3, 10, 9, 0)  # due Wed 5 Mar 17:00
    overdue = await _march(client)
    assert [(i["handled"], i["still_overdue"]) for i in overdue["items"]] == [(1, 1)]
    assert _officials(overdue) == {"Phạm Văn Thẩm Định": (1, 1, {"in_progress": 1})}
    await flow.act(citizen, dossier["id"], "withdraw")
    public_cache.clear()  # the list is cached briefly
    assert (await _march(client))["items"] == []


async def test_the_appraisal_under_way_that_overran_is_named_with_its_step(client, flow, at):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=3, step_time_limits=[{"step": "appraise", "working_days": 1}])
    _, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    await flow.to_processing(dossier["id"])  # appraisal due Tue 4 Mar 17:00, the dossier Thu 6 Mar 17:00
    at.set(2025, 3, 12, 9, 0)
    assert _officials(await _march(client)) == {"Phạm Văn Thẩm Định": (1, 1, {"appraise": 1})}  # (was in_progress)


async def test_an_official_within_the_allowance_of_the_step_under_way_is_not_blamed(client, flow, at):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=3, step_time_limits=[{"step": "appraise", "working_days": 2}])
    _, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    await flow.act(flow.reception, dossier["id"], "receive")  # due Thu 6 Mar 17:00
    at.set(2025, 3, 10, 9, 0)  # overdue before it was assigned (the assignment has no allowance: nobody to name)
    await flow.act(flow.reception, dossier["id"], "assign", assignee=str(flow.processing.id))
    at.set(2025, 3, 11, 9, 0)  # the appraisal has until Wed 12 Mar 17:00
    body = await _march(client)
    assert [(i["still_overdue"], i["late"]) for i in body["items"]] == [(1, 1)]
    assert _officials(body) == {}  # counted for the agency only (was the assignee, in_progress)
    at.set(2025, 3, 13, 9, 0)
    public_cache.clear()
    assert _officials(await _march(client)) == {"Phạm Văn Thẩm Định": (1, 1, {"appraise": 1})}


async def test_a_supplement_wait_stops_the_clock_of_the_step_under_way(client, flow, at):
    at.set(2025, 3, 3, 8, 0)
    # The allowances fit in the processing days (app.catalogue.content.step_total_problem): the appraisal outlives
    # the dossier's deadline because it was assigned late, not because it was given more days than the dossier.
    code = await flow.procedure(processing_days=2, step_time_limits=[{"step": "appraise", "working_days": 2}])
    _, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    await flow.act(flow.reception, dossier["id"], "receive")  # due Wed 5 Mar 17:00
    at.set(2025, 3, 5, 9, 0)
    await flow.act(flow.reception, dossier["id"], "assign", assignee=str(flow.processing.id))  # until Fri 7 Mar
    at.set(2025, 3, 6, 10, 0)  # late already: the dossier stays overdue while the applicant answers
    await flow.act(flow.processing, dossier["id"], "request_supplement", items=["Bản sao giấy phép"])
    at.set(2025, 3, 14, 9, 0)
    body = await _march(client)
    assert [(i["still_overdue"], i["late"]) for i in body["items"]] == [(1, 1)]
    assert _officials(body) == {}  # the appraisal was within its days when the wait began (was in_progress)

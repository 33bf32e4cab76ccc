"""Decision 766's satisfaction group from real complaints: handled on time (answered by the due time, over those that
fell due in the period), satisfaction with their handling (satisfied over rated), and procedure satisfaction's
"dossiers with complaints" (once per dossier)."""

from __future__ import annotations

from typing import Any

from tests.complaints.conftest import Complaints
from tests.reporting.conftest import Clock
from tests.support.identity_fixtures import Accounts
from tests.support.workflow_fixtures import Flow

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
APRIL = {"from": "2025-04-01", "to": "2025-04-30"}


def satisfaction(report: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    group = next(g for g in report["total"]["groups"] if g["name"] == "satisfaction")
    return {r["name"]: (r["numerator"], r["denominator"], r["value"]) for r in group["ratios"]} | {
        "points": (group["points"], None, None)}


async def test_the_satisfaction_group_counts_complaints(client, flow: Flow, at: Clock, complaints: Complaints,
                                                        accounts: Accounts) -> None:
    """Four dossiers received Mon 3 March (30 working days: all open and on time through March).
    c1 (dossier A) filed 3 March, due Mon 17 March 17:00, answered 10 March: on time, rated satisfied;
    c2 (dossier B) filed 3 March, answered Tue 18 March: late, rated dissatisfied;
    c3 (dossier A again) filed 3 March, never answered: due in March, not handled on time;
    c4 (dossier C) filed Mon 24 March, due Tue 8 April (Hùng Kings' day, Mon 7 April, is off): April's.
    """
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=30)
    applicants, ids = [], []
    for _ in range(4):
        citizen, dossier = await flow.submitted(code)
        await flow.act(flow.reception, dossier["id"], "receive")
        applicants.append(citizen)
        ids.append(dossier["id"])
    at.set(2025, 3, 3, 9, 0)
    c1 = (await complaints.file(applicants[0], ids[0]))["id"]
    c2 = (await complaints.file(applicants[1], ids[1]))["id"]
    c3 = (await complaints.file(applicants[0], ids[0], kind="feedback"))["id"]
    at.set(2025, 3, 10, 9, 0)
    await complaints.answered(flow.reception, c1)
    at.set(2025, 3, 18, 9, 0)
    await complaints.answered(flow.processing, c2)
    assert (await complaints.rate(applicants[0], c1, True)).status_code == 200
    assert (await complaints.rate(applicants[1], c2, False)).status_code == 200
    at.set(2025, 3, 24, 9, 0)
    c4 = await complaints.file(applicants[2], ids[2])
    assert c4["due_at"] == "2025-04-08T10:00:00Z"
    assert c3 and (await client.get(f"/v1/complaints/{c3}", headers=flow.reception.headers)).json()["state"] == "open"

    admin = await accounts.admin()
    march = satisfaction((await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)).json())
    assert march["complaints_handled_on_time"] == (1, 3, 0.3333)
    assert march["complaint_handling_satisfaction"] == (1, 2, 0.5)
    # 4 dossiers handled (open, in time), 3 of them complained about in March (A twice, counted once; B; C):
    # 100% - (0 overdue + 3/4 with complaints).
    assert march["procedure_satisfaction"] == (1, 4, 0.25)
    assert march["points"][0] == round(18 * (0.3333 + 0.5 + 0.25) / 3, 2)

    at.set(2025, 4, 8, 17, 0)
    assert (await complaints.answer(flow.reception, c4["id"])).status_code == 200  # at its due time: on time
    april = satisfaction((await client.get("/v1/reports/indicators", params=APRIL, headers=admin.headers)).json())
    assert april["complaints_handled_on_time"] == (1, 1, 1.0)
    assert april["complaint_handling_satisfaction"] == (0, 0, None)
    assert april["procedure_satisfaction"] == (4, 4, 1.0)  # no complaint filed in April

    by_agency = (await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "procedure"},
                                  headers=admin.headers)).json()
    row = next(r for r in by_agency["rows"] if r["procedure_code"] == code)
    ratios = {r["name"]: (r["numerator"], r["denominator"]) for g in row["groups"] for r in g["ratios"]}
    assert ratios["complaints_handled_on_time"] == (1, 3) and ratios["complaint_handling_satisfaction"] == (1, 2)


async def test_nothing_to_count_leaves_the_ratios_out_of_the_points(client, flow: Flow, at: Clock,
                                                                    accounts: Accounts) -> None:
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=30)
    _, dossier = await flow.submitted(code)
    await flow.act(flow.reception, dossier["id"], "receive")
    admin = await accounts.admin()
    march = satisfaction((await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)).json())
    assert march["complaints_handled_on_time"] == (0, 0, None)
    assert march["complaint_handling_satisfaction"] == (0, 0, None)
    assert march["procedure_satisfaction"] == (1, 1, 1.0)
    assert march["points"][0] == 18.0

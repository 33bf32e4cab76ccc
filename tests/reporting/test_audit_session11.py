"""Audit fixes (session 11): an official's late share never exceeds 1, and the published month is exported as
CSV like the live report."""

from __future__ import annotations

from typing import Any

from tests.reporting.conftest import build_march, finish

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def _official(body: dict[str, Any], name: str) -> dict[str, Any]:
    (agency,) = body["items"]
    return next(o for o in agency["officials"] if o["name"] == name)


async def test_an_official_holding_overdue_dossiers_counts_them_as_handled(client, flow, at, accounts):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=1)
    ids = []
    for _ in range(3):
        _, dossier = await flow.submitted(code)
        ids.append(dossier["id"])
    at.set(2025, 3, 3, 9, 0)
    for dossier_id in ids:
        await flow.to_processing(dossier_id)
    await finish(flow, ids[0])  # on time: the only step the processing official completes
    at.set(2025, 3, 10, 9, 0)  # the other two, assigned to them and never appraised, are overdue
    response = await client.get("/v1/public/late-dossiers", params=MARCH)
    assert response.status_code == 200, response.text
    official = _official(response.json(), "Phạm Văn Thẩm Định")
    # Before: handled 1 (the appraisal of the finished one), late 2, late_share 2.0.
    assert (official["handled"], official["late"], official["late_share"]) == (3, 2, 0.6667)
    agency = response.json()["items"][0]
    assert (agency["handled"], agency["late"], agency["late_share"]) == (3, 2, 0.6667)  # unchanged


async def test_a_step_that_overran_before_the_period_counts_as_handled_in_it(client, flow, at, accounts):
    at.set(2025, 2, 24, 8, 0)
    code = await flow.procedure(processing_days=2, step_time_limits=[{"step": "appraise", "working_days": 1}])
    _, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    at.set(2025, 2, 28, 10, 0)  # appraisal overran (due 25 Feb), in February
    await flow.act(flow.processing, dossier["id"], "appraise")
    at.set(2025, 3, 3, 10, 0)  # finished late in March by the approver
    await flow.act(flow.approval, dossier["id"], "approve")
    result = await flow.upload_result(dossier["id"], b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    await flow.act(flow.approval, dossier["id"], "issue_result", attachments=[result])
    body = (await client.get("/v1/public/late-dossiers", params=MARCH)).json()
    official = _official(body, "Phạm Văn Thẩm Định")
    # Before: handled 0 (no step completed in March), late 1, late_share null.
    assert (official["handled"], official["late"], official["late_share"], official["steps"]) == (
        1, 1, 1.0, {"appraise": 1})


async def test_every_listed_official_has_a_late_share_between_0_and_1(client, flow, fees, at, accounts):
    await build_march(client, flow, fees, at)
    body = (await client.get("/v1/public/late-dossiers", params=MARCH)).json()
    people = [o for item in body["items"] for o in item["officials"]]
    assert people and all(0 <= o["late"] <= o["handled"] and 0 <= o["late_share"] <= 1 for o in people)


async def test_the_published_month_is_exported_as_csv_like_the_live_report(client, flow, fees, at, accounts):
    await build_march(client, flow, fees, at)
    admin = await accounts.admin()
    at.set(2025, 4, 1, 8, 0)
    created = await client.post("/v1/reports/indicators/snapshots", json={"period": "2025-03"}, headers=admin.headers)
    assert created.status_code == 201, created.text
    live = await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "agency"},
                            headers={**admin.headers, "Accept": "text/csv"})
    assert live.status_code == 200, live.text

    public = await client.get("/v1/public/indicators", params={"period": "2025-03"},
                              headers={"Accept": "text/csv"})  # no token
    assert public.status_code == 200, public.text
    assert public.headers["content-type"].startswith("text/csv")
    assert public.headers["content-disposition"].startswith('attachment; filename="indicators-2025-03.csv"')
    assert "accept" in public.headers["vary"].lower()
    assert public.text == live.text  # same layout, same figures (nothing changed since publication)

    weighted = await client.get("/v1/public/indicators", params={"period": "2025-03"},
                                headers={"Accept": "text/csv, application/json;q=0.5"})
    assert weighted.headers["content-type"].startswith("text/csv")
    default = await client.get("/v1/public/indicators", params={"period": "2025-03"})
    assert default.headers["content-type"].startswith("application/json") and default.json()["period"] == "2025-03"
    refused = await client.get("/v1/public/indicators", params={"period": "2025-03"},
                               headers={"Accept": "application/pdf"})
    assert refused.status_code == 406 and refused.json()["code"] == "not_acceptable"
    missing = await client.get("/v1/public/indicators", params={"period": "2025-02"},
                               headers={"Accept": "text/csv"})
    assert missing.status_code == 404


async def test_the_public_indicators_route_documents_its_csv_answer(client):
    spec = (await client.get("/openapi.json")).json()
    answer = spec["paths"]["/v1/public/indicators"]["get"]["responses"]
    assert set(answer["200"]["content"]) == {"application/json", "text/csv"}
    assert answer["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SnapshotOut"}
    assert "406" in answer

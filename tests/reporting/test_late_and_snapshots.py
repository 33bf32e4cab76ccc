"""The public late list (apologised dossiers are late; lateness goes to the official and step that overran)
and monthly snapshots (frozen, public, published once)."""

from __future__ import annotations

from tests.reporting.conftest import build_march, finish

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


async def test_late_list_counts_apologised_dossier_as_late_and_blames_the_overrunning_step(
        client, flow, fees, at, accounts):
    month = await build_march(client, flow, fees, at)
    response = await client.get("/v1/public/late-dossiers", params=MARCH)  # no token
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None and [i["agency_code"] for i in body["items"]] == ["000.00.12.H01"]
    agency = body["items"][0]
    # handled: 3 finished + 3 open; late: the apologised dossier (after its original due date) + the desk one
    # still overdue; the twice-supplemented dossier was on time by the clock.
    assert {k: agency[k] for k in ("handled", "finished_late", "still_overdue", "late", "late_share",
                                   "apologised")} == {"handled": 6, "finished_late": 1, "still_overdue": 1,
                                                      "late": 2, "late_share": 0.3333, "apologised": 1}
    # The processing official: three appraisals in March plus the desk dossier they hold open (overdue), whose
    # appraisal under way overran its two days as the apologised dossier's did.
    assert agency["officials"] == [{"name": "Phạm Văn Thẩm Định", "agency_code": "000.00.12.H01", "handled": 4,
                                    "late": 2, "late_share": 0.5, "apologised": 1, "steps": {"appraise": 2}}]
    text = response.text
    for private in ("Trần Văn Đức", "Bà Tư", "001099012345", month.ids["apologised"], "citizen_id"):
        assert private not in text
    # No parameters: the current month (the clock says 20 March), every agency.
    default = await client.get("/v1/public/late-dossiers")
    assert default.json()["from"] == "2025-03-01" and default.json()["to"] == "2025-03-20"
    assert default.json()["items"][0]["late"] == 2
    assert (await client.get("/v1/public/late-dossiers", params={"agency": "nope"})).status_code == 404


async def test_late_list_pages_by_agency_and_is_cached_briefly(client, flow, at, accounts):
    at.set(2025, 3, 3, 8, 0)
    codes = {}
    for agency in ("A.01", "A.02", "A.03"):
        await flow.officials(agency)
        codes[agency] = await flow.procedure(agency=agency, processing_days=1)
        _, dossier = await flow.submitted(codes[agency])
        await flow.act(flow.reception, dossier["id"], "receive")
    at.set(2025, 3, 10, 9, 0)  # all three overdue
    first = (await client.get("/v1/public/late-dossiers", params={**MARCH, "limit": 2})).json()
    assert [i["agency_code"] for i in first["items"]] == ["A.01", "A.02"] and first["next_cursor"]
    second = (await client.get("/v1/public/late-dossiers", params={**MARCH, "limit": 2,
                                                                   "cursor": first["next_cursor"]})).json()
    assert [i["agency_code"] for i in second["items"]] == ["A.03"] and second["next_cursor"] is None
    assert second["items"][0]["still_overdue"] == 1 and second["items"][0]["officials"] == []
    # Cached: a change is visible only after the entry expires (60 s by default; cleared here by hand).
    _, late_one = await flow.submitted(codes["A.03"])
    await flow.act(flow.reception, late_one["id"], "receive")
    at.set(2025, 3, 20, 9, 0)
    cached = (await client.get("/v1/public/late-dossiers", params={**MARCH, "limit": 2,
                                                                   "cursor": first["next_cursor"]})).json()
    assert cached["items"][0]["still_overdue"] == 1
    from app.reporting.cache import public_cache

    public_cache.clear()
    fresh = (await client.get("/v1/public/late-dossiers", params={**MARCH, "limit": 2,
                                                                  "cursor": first["next_cursor"]})).json()
    assert fresh["items"][0]["still_overdue"] == 2


async def test_snapshot_is_frozen_public_and_published_once(client, flow, fees, at, accounts):
    month = await build_march(client, flow, fees, at)
    admin = await accounts.admin()
    assert (await client.get("/v1/public/indicators", params={"period": "2025-03"})).status_code == 404
    early = await client.post("/v1/reports/indicators/snapshots", json={"period": "2025-03"}, headers=admin.headers)
    assert early.status_code == 422  # March is not over on the 20th
    at.set(2025, 4, 1, 8, 0)
    official = await client.post("/v1/reports/indicators/snapshots", json={"period": "2025-03"},
                                 headers=flow.approval.headers)
    assert official.status_code == 403
    created = await client.post("/v1/reports/indicators/snapshots", json={"period": "2025-03"}, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/public/indicators?period=2025-03"
    again = await client.post("/v1/reports/indicators/snapshots", json={"period": "2025-03"}, headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "conflict"

    public = await client.get("/v1/public/indicators", params={"period": "2025-03"})  # no token
    assert public.status_code == 200
    assert public.headers["vary"] == "Accept"  # public and cacheable, and the CSV shares the URL
    frozen = public.json()
    assert frozen["report"]["from"] == "2025-03-01" and frozen["report"]["to"] == "2025-03-31"
    assert [r["agency_code"] for r in frozen["report"]["rows"]] == ["000.00.12.H01"]
    progress = next(g for g in frozen["report"]["total"]["groups"] if g["name"] == "progress")
    on_time = next(r for r in progress["ratios"] if r["name"] == "finished_on_time")
    assert (on_time["numerator"], on_time["denominator"]) == (1, 6)  # on 1 April every open dossier is overdue

    # Live figures move on (the catalogue as it is now: a procedure published in April); the published month
    # does not. (A March dossier finished in April no longer moves them: March's open dossiers are counted, or
    # rebuilt from their history, as they were when it ended.)
    at.set(2025, 4, 2, 9, 0)
    await flow.act(flow.reception, month.ids["open"], "assign", assignee=str(flow.processing.id))
    await finish(flow, month.ids["open"])
    await flow.procedure(processing_days=5)
    live = await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)
    live_groups = {g["name"]: {r["name"]: r for r in g["ratios"]} for g in live.json()["total"]["groups"]}
    frozen_groups = {g["name"]: {r["name"]: r for r in g["ratios"]} for g in frozen["report"]["total"]["groups"]}
    assert live_groups["progress"]["finished_on_time"]["denominator"] == 6
    assert (live_groups["online_service"]["procedures_online"]["denominator"]
            == frozen_groups["online_service"]["procedures_online"]["denominator"] + 1)
    assert (await client.get("/v1/public/indicators", params={"period": "2025-03"})).json() == frozen
    bad = await client.get("/v1/public/indicators", params={"period": "2025-13"})
    assert bad.status_code == 422

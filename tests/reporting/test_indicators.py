"""Indicator figures on a hand-built month (conftest.build_march) match the values worked out by hand."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from app.core.db import get_database
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.reporting.counters import count_synced
from tests.reporting.conftest import build_march

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: {"group": g, **{r["name"]: r for r in g["ratios"]}} for g in report["groups"]}


def fraction(ratio: dict[str, Any]) -> tuple[Any, Any, Any]:
    return ratio["numerator"], ratio["denominator"], ratio["value"]


async def _sync(dossier_id: str) -> None:
    import uuid

    async with get_database().write_sessions() as session, session.begin():
        dossier = await session.get(Dossier, uuid.UUID(dossier_id))
        await count_synced(session, dossier)
        await count_synced(session, dossier)  # once per dossier, however many times it is synced


async def test_figures_match_the_hand_computed_month(client, flow, fees, at, accounts, monkeypatch):
    month = await build_march(client, flow, fees, at)
    await _sync(month.ids["on_time"])
    admin = await accounts.admin()
    response = await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "2025-03-01" and body["to"] == "2025-03-31"
    assert body["weights"] == {"transparency": 18, "progress": 20, "online_service": 22, "digitisation": 22,
                               "satisfaction": 18}
    g = by_name(body["total"])
    # progress: finished 3 (on_time, twice, apologised), late 2 (apologised: after the original due date although
    # before the apology's date; twice: two supplement requests); open 3 (desk overdue, open and paid in time).
    assert fraction(g["progress"]["finished_on_time"]) == (3, 6, 0.5)
    assert fraction(g["progress"]["overdue_open"]) == (1, 3, 0.3333)
    # Working days from reception: apologised Mon 3 -> Tue 11 March is 6 (4-7, 10, 11), the other two 0.
    assert fraction(g["progress"]["average_processing_days"]) == (6, 3, 2.0)
    assert fraction(g["transparency"]["dossiers_synced"]) == (1, 7, 0.1429)
    assert g["transparency"]["procedures_published_on_time"]["available"] is False
    assert fraction(g["online_service"]["procedures_online"]) == (2, 2, 1.0)
    assert fraction(g["online_service"]["online_procedures_used"]) == (2, 2, 1.0)
    assert fraction(g["online_service"]["dossiers_online"]) == (6, 7, 0.8571)  # the desk dossier is not online
    assert fraction(g["online_service"]["fees_paid_online"]) == (1, 1, 1.0)
    assert fraction(g["digitisation"]["electronic_results"]) == (0, 3, 0.0)  # unsigned results
    assert fraction(g["digitisation"]["dossiers_digitised"]) == (7, 7, 1.0)
    assert fraction(g["digitisation"]["digitised_data_reused"]) == (0, 7, 0.0)  # every file uploaded
    assert fraction(g["satisfaction"]["ratings_satisfied"]) == (1, 2, 0.5)
    assert fraction(g["satisfaction"]["average_rating"]) == (7, 2, 3.5)
    assert g["satisfaction"]["ratings_satisfied"]["scored"] is False  # shown; not a Decision 766 figure
    for name in ("complaints_handled_on_time", "complaint_handling_satisfaction"):  # none filed (tests/complaints)
        assert fraction(g["satisfaction"][name]) == (0, 0, None) and g["satisfaction"][name]["available"] is True
    # 100% - (overdue rate 3/6 + dissatisfied 1/6): of the 6 handled, 3 late and one rated 3 (below 4).
    assert fraction(g["satisfaction"]["procedure_satisfaction"]) == (2, 6, 0.3333)
    points = {name: g[name]["group"]["points"] for name in g}
    assert points == {"transparency": round(18 / 7, 2), "progress": 10.0,
                      "online_service": round(22 * (3 + 6 / 7) / 4, 2), "digitisation": round(22 / 3, 2),
                      "satisfaction": round(18 * 0.3333, 2)}
    assert body["total"]["points"] == round(sum(points.values()), 2) and body["total"]["max_points"] == 100

    # The multi-supplement rule is a setting: without it, the twice-supplemented dossier is on time.
    monkeypatch.setenv("DVC_INDICATOR_MULTI_SUPPLEMENT_LATE", "false")
    get_settings.cache_clear()
    try:
        again = await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)
    finally:
        monkeypatch.delenv("DVC_INDICATOR_MULTI_SUPPLEMENT_LATE")
        get_settings.cache_clear()
    assert fraction(by_name(again.json()["total"])["progress"]["finished_on_time"]) == (4, 6, 0.6667)

    # A later period holds none of March's counts (only the dossiers still open are carried).
    april = await client.get("/v1/reports/indicators", params={"from": "2025-04-01", "to": "2025-04-30"},
                             headers=admin.headers)
    later = by_name(april.json()["total"])
    assert fraction(later["progress"]["finished_on_time"]) == (2, 3, 0.6667)
    assert fraction(later["online_service"]["dossiers_online"]) == (0, 0, None)


async def test_group_by_and_csv(client, flow, fees, at, accounts):
    month = await build_march(client, flow, fees, at)
    admin = await accounts.admin()
    by_procedure = (await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "procedure"},
                                     headers=admin.headers)).json()
    rows = {r["procedure_code"]: by_name(r) for r in by_procedure["rows"]}
    assert set(rows) == set(month.procedures)
    assert fraction(rows[month.procedures[1]]["online_service"]["fees_paid_online"]) == (1, 1, 1.0)
    assert fraction(rows[month.procedures[0]]["progress"]["finished_on_time"]) == (2, 5, 0.4)
    by_month = (await client.get("/v1/reports/indicators", params={"from": "2025-02-01", "to": "2025-03-31",
                                                                    "group_by": "month"},
                                 headers=admin.headers)).json()
    assert [r["month"] for r in by_month["rows"]] == ["2025-03"]
    assert by_name(by_month["total"])["progress"]["finished_on_time"]["value"] == 0.5

    response = await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "agency"},
                                headers={**admin.headers, "Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    as_json = await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "agency"},
                               headers=admin.headers)
    assert response.headers["vary"] == as_json.headers["vary"] == "Accept"
    lines = list(csv.DictReader(io.StringIO(response.text)))
    total = [r for r in lines if not r["agency_code"]]
    agency = [r for r in lines if r["agency_code"] == "000.00.12.H01"]
    assert len(total) == len(agency) == 17  # every ratio of the five groups
    row = next(r for r in agency if r["ratio"] == "finished_on_time")
    assert (row["group"], row["numerator"], row["denominator"], row["value"]) == ("progress", "3", "6", "0.5")
    complaint = next(r for r in total if r["ratio"] == "complaints_handled_on_time")
    assert complaint["available"] == "true" and complaint["value"] == "" and complaint["denominator"] == "0"


@pytest.mark.parametrize("params", [{"from": "2025-03-10", "to": "2025-03-01"}, {"group_by": "year"},
                                    {"from": "2020-01-01", "to": "2026-01-01"}])
async def test_bad_parameters_are_422(client, accounts, params):
    admin = await accounts.admin()
    response = await client.get("/v1/reports/indicators", params=params, headers=admin.headers)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"

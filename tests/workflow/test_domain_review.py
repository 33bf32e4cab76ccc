"""DOMAIN.md review: where the code differs from the law as DOMAIN.md writes it (each test is a strict xfail
until the code or DOMAIN.md changes). The clock is fixed on real dates, as in the other deadline tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from tests.reporting.conftest import finish
from tests.support.identity_fixtures import DEFAULT_AGENCY
from tests.workflow.test_supplement_and_endings import at_local, local, set_clock

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def _groups(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: {"group": g, **{r["name"]: r for r in g["ratios"]}} for g in report["groups"]}


async def _indicators(client: Any, accounts: Any) -> dict[str, dict[str, Any]]:
    admin = await accounts.admin()
    response = await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)
    assert response.status_code == 200, response.text
    return _groups(response.json()["total"])


async def test_apology_on_the_due_day_before_the_deadline_passes_is_accepted(flow, monkeypatch):
    # DOMAIN.md (form 04): the apology is "sent before the deadline passes". Issue 7 asks for the end of the working
    # day before the due date by default (DVC_APOLOGY_DEADLINE_WORKING_DAYS=1, configurable); with 0, DOMAIN.md's
    # reading: up to the deadline itself. Later it is still taken (Resolution 131), recorded as late.
    from app.core.settings import get_settings

    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=2)
    _, dossier = await flow.submitted(code)
    _, other = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    for did in (dossier["id"], other["id"]):
        processing = await flow.to_processing(did)
        assert at_local(processing["due_at"]) == local(2025, 3, 5, 17, 0)  # Wednesday 17:00
    set_clock(monkeypatch, 2025, 3, 5, 9, 0)  # Wednesday morning: the due moment has not passed
    # The default: due by the end of Tuesday, so late now.
    late = await flow.act(flow.processing, other["id"], "apologise", reason="Cần xác minh thêm",
                          new_due_date="2025-03-10")
    assert (await flow.history(flow.processing, other["id"]))[-1]["details"]["late"] is True
    assert at_local(late["due_at"]) == local(2025, 3, 10, 17, 0)
    monkeypatch.setenv("DVC_APOLOGY_DEADLINE_WORKING_DAYS", "0")
    get_settings.cache_clear()
    try:
        response = await flow.post(flow.processing, dossier["id"], "apologise", reason="Cần xác minh thêm",
                                   new_due_date="2025-03-10")
    finally:
        monkeypatch.delenv("DVC_APOLOGY_DEADLINE_WORKING_DAYS")
        get_settings.cache_clear()
    assert response.status_code == 200, response.text
    assert at_local(response.json()["due_at"]) == local(2025, 3, 10, 17, 0)
    assert (await flow.history(flow.processing, dossier["id"]))[-1]["details"]["late"] is False


async def test_saturday_morning_reception_counts_at_an_agency_open_on_saturday_morning(flow, monkeypatch):
    # DOMAIN.md "Time": "Monday to Friday (Saturday morning configurable per agency)"; issue 7: desk hours change
    # when a dossier can be received, not how days are counted.
    from app.catalogue.models import Agency
    from app.core.db import get_database

    async def open_on_saturday_morning(opens: bool) -> None:
        async with get_database().write_sessions() as session, session.begin():
            await session.execute(update(Agency).where(Agency.code == DEFAULT_AGENCY).values(saturday_morning=opens))

    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=1)
    _, closed_desk = await flow.submitted(code)
    _, open_desk = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 3, 8, 9, 0)  # Saturday morning
    received = await flow.act(flow.reception, closed_desk["id"], "receive")
    assert at_local(received["due_at"]) == local(2025, 3, 11, 17, 0)  # counted as received Monday: day 1 Tuesday
    await open_on_saturday_morning(True)
    try:
        received = await flow.act(flow.reception, open_desk["id"], "receive")
    finally:
        await open_on_saturday_morning(False)
    # Received within the agency's desk hours on Saturday: day 1 is Monday.
    assert at_local(received["due_at"]) == local(2025, 3, 10, 17, 0)


async def test_average_processing_time_leaves_out_the_supplement_wait(client, flow, accounts, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=10, clock_on_supplement="pause")
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    await flow.to_processing(did)
    set_clock(monkeypatch, 2025, 3, 3, 10, 0)
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    file_id = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 6, 10, 0)  # Thursday: three days spent waiting on the applicant
    await flow.act(citizen, did, "supplement", attachments=[file_id])
    set_clock(monkeypatch, 2025, 3, 6, 11, 0)
    await finish(flow, did)
    ratio = (await _indicators(client, accounts))["progress"]["average_processing_days"]
    # Reception to result is 3 days 2 hours, of which 3 days were the applicant's: about 2 hours are the agency's.
    assert ratio["value"] is not None and ratio["value"] < 1.0, ratio


async def test_average_processing_time_is_in_working_days(client, flow, accounts, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 7, 8, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 3, 7, 9, 0)  # Friday
    await flow.to_processing(dossier["id"])
    set_clock(monkeypatch, 2025, 3, 10, 9, 0)  # Monday: one working day later, three calendar days
    await finish(flow, dossier["id"])
    ratio = (await _indicators(client, accounts))["progress"]["average_processing_days"]
    assert ratio["value"] is not None and ratio["value"] <= 1.0, ratio


async def test_satisfaction_points_fall_with_the_overdue_rate(client, flow, accounts, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=1)
    citizen, rated = await flow.submitted(code)
    _, late = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    for dossier in (rated, late):
        await flow.to_processing(dossier["id"])
    await finish(flow, rated["id"])
    await flow.act(flow.reception, rated["id"], "return_result", delivery={"method": "desk"})
    response = await flow.client.post(f"/v1/dossiers/{rated['id']}/rating", headers=citizen.headers,
                                      json={"score": 5})
    assert response.status_code == 201, response.text
    set_clock(monkeypatch, 2025, 3, 20, 9, 0)  # the other dossier is long overdue, still open
    groups = await _indicators(client, accounts)
    assert groups["progress"]["overdue_open"]["value"] == 1.0
    # Half of the dossiers handled are overdue and nobody is dissatisfied: satisfaction is at most 50%, not 100%.
    assert groups["satisfaction"]["group"]["points"] is not None
    assert groups["satisfaction"]["group"]["points"] <= 18 * 0.5, groups["satisfaction"]


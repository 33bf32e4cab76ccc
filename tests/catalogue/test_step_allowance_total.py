"""A version's step allowances must fit in its processing days.

The internal process gives each step a time allowance (working days, or working hours: 8 of them a day by
default, the lunch break left out). Steps that together take longer than the version's processing time promise
the officials more time than the law gives the agency: every step could be on time and the dossier late. That is
refused wherever a version is written or made binding: creation, draft edits, import, and publication (a draft
copied from a version stored before the rule is held to it there).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from app.catalogue.models import ProcedureVersion
from app.core.db import get_database
from tests.support.catalogue_fixtures import procedure_body


@pytest.fixture
async def editor(accounts, catalogue) -> Any:  # type: ignore[no-untyped-def]
    await catalogue.agency("A1")
    await catalogue.field("F1", agency_code="A1")
    return await accounts.official("A1", ("agency_admin",))


def _errors(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return list(response.json()["errors"])


OVER = [{"step": "reception", "hours": 4}, {"step": "appraise", "working_days": 3},
        {"step": "approve", "working_days": 2}]  # 5.5 working days


async def test_allowances_longer_than_the_processing_days_are_refused_on_create(client, editor):
    refused = await client.post("/v1/procedures", json=procedure_body("SUM-1", processing_days=5,
                                                                      step_time_limits=OVER), headers=editor.headers)
    [error] = _errors(refused)
    assert error["loc"] == ["body", "step_time_limits"] and error["pointer"] == "/step_time_limits"
    msg = error["msg"]
    # Both totals, and every step with its allowance, so the editor sees what to shorten.
    assert "44 working hours (5.5 working days of 8 hours)" in msg, msg
    assert "5 processing days (40 working hours)" in msg, msg
    assert "reception 4 working hours" in msg and "appraise 3 working days" in msg and "approve 2 working days" in msg


@pytest.mark.parametrize(("processing_days", "limits", "fits"), [
    (5, [{"step": "appraise", "working_days": 3}, {"step": "approve", "working_days": 2}], True),  # exactly
    (5, [{"step": "appraise", "working_days": 3}, {"step": "approve", "working_days": 3}], False),
    (1, [{"step": "reception", "hours": 4}, {"step": "appraise", "hours": 4}], True),  # 8 hours = 1 day
    (1, [{"step": "reception", "hours": 4}, {"step": "appraise", "hours": 5}], False),
    (2, [{"step": "reception", "hours": 8}, {"step": "appraise", "working_days": 1}], True),
    (2, [{"step": "reception", "hours": 1}, {"step": "appraise", "working_days": 2}], False),
])
async def test_hours_count_as_eight_to_a_working_day(client, editor, processing_days, limits, fits):
    response = await client.post("/v1/procedures", json=procedure_body(
        "SUM-H", processing_days=processing_days, step_time_limits=limits), headers=editor.headers)
    if fits:
        assert response.status_code == 201, response.text
    else:
        assert [e["loc"] for e in _errors(response)] == [["body", "step_time_limits"]]


async def test_a_shorter_working_day_counts_fewer_hours(client, editor, settings_env):
    # Lunch 11:30-13:30: 7 working hours a day, so 8 hours of steps no longer fit in one day.
    settings_env(DVC_LUNCH_BREAK_START="11:30", DVC_LUNCH_BREAK_END="13:30")
    limits = [{"step": "reception", "hours": 4}, {"step": "appraise", "hours": 4}]
    [error] = _errors(await client.post("/v1/procedures", json=procedure_body(
        "SUM-7", processing_days=1, step_time_limits=limits), headers=editor.headers))
    assert "8 working hours (1.14 working days of 7 hours)" in error["msg"], error["msg"]
    assert "1 processing day (7 working hours)" in error["msg"], error["msg"]


async def test_shortening_the_processing_days_under_the_steps_is_refused(client, editor):
    limits = [{"step": "appraise", "working_days": 3}, {"step": "approve", "working_days": 2}]
    created = await client.post("/v1/procedures", json=procedure_body("SUM-P", processing_days=5,
                                                                      step_time_limits=limits), headers=editor.headers)
    assert created.status_code == 201, created.text
    patched = await client.patch("/v1/procedures/SUM-P/versions/1", json={"processing_days": 4},
                                 headers={**editor.headers, "If-Match": created.headers["etag"]})
    assert [e["loc"] for e in _errors(patched)] == [["body", "step_time_limits"]]
    both = await client.patch("/v1/procedures/SUM-P/versions/1",
                              json={"processing_days": 4, "step_time_limits": limits[:1]},
                              headers={**editor.headers, "If-Match": created.headers["etag"]})
    assert both.status_code == 200, both.text


async def test_import_refuses_it_with_the_entry_pointer(client, editor):
    document = {"procedures": [procedure_body("SUM-I", processing_days=5),
                               procedure_body("SUM-J", processing_days=5, step_time_limits=OVER)]}
    [error] = _errors(await client.post("/v1/catalogue/import", json=document, headers=editor.headers))
    assert error["loc"] == ["body", "procedures", 1, "step_time_limits"]
    assert error["pointer"] == "/procedures/1/step_time_limits"
    assert "5 processing days" in error["msg"]
    listed = await client.get("/v1/procedures/SUM-I")
    assert listed.status_code == 404  # all or nothing


async def test_publish_refuses_a_draft_stored_before_the_rule(client, editor):
    created = await client.post("/v1/procedures", json=procedure_body("SUM-OLD", processing_days=5),
                                headers=editor.headers)
    assert created.status_code == 201, created.text
    # As a version written before this check was stored it (new_draft copies such content unchecked).
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(ProcedureVersion).where(ProcedureVersion.procedure_code == "SUM-OLD")
                              .values(step_time_limits=OVER))
    etag = (await client.get("/v1/procedures/SUM-OLD/versions/1", headers=editor.headers)).headers["etag"]
    published = await client.post("/v1/procedures/SUM-OLD/versions/1/publish", json={},
                                  headers={**editor.headers, "If-Match": etag})
    [error] = _errors(published)
    assert error["loc"] == ["step_time_limits"] and "5 processing days" in error["msg"]
    assert (await client.get("/v1/procedures/SUM-OLD")).status_code == 404  # still unpublished


async def test_an_export_holding_a_version_stored_before_the_rule_imports_back(client, editor, accounts):
    # The export of such a catalogue was refused on import: its recorded versions are history, not new content.
    created = await client.post("/v1/procedures", json=procedure_body("SUM-HIST", processing_days=5),
                                headers=editor.headers)
    assert created.status_code == 201, created.text
    published = await client.post("/v1/procedures/SUM-HIST/versions/1/publish", json={},
                                  headers={**editor.headers, "If-Match": created.headers["etag"]})
    assert published.status_code == 200, published.text
    stored = [{"step": None, "working_days": None, "hours": None} | limit for limit in OVER]  # as the API stores it
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(ProcedureVersion).where(ProcedureVersion.procedure_code == "SUM-HIST")
                              .values(step_time_limits=stored))
    admin = await accounts.admin()
    exported = (await client.get("/v1/catalogue/export", headers=admin.headers)).json()
    again = await client.post("/v1/catalogue/import", json=exported, headers=admin.headers)
    assert again.status_code == 200, again.text
    assert again.json()["unchanged"] == 1 and again.json()["versions_published"] == 0
    # New content is held to the rule: the same entry with another name would publish a new version.
    [entry] = exported["procedures"]
    changed = {**entry, "name": entry["name"] + " (sửa đổi)", "valid_from": None}
    [error] = _errors(await client.post("/v1/catalogue/import", json={"procedures": [changed]},
                                        headers=admin.headers))
    assert error["loc"] == ["body", "procedures", 0, "step_time_limits"]

"""Bounds on what callers may send, and the integrity rules that must hold whatever they send.

Out-of-range input answers 4xx, never 500: an apology's new return date, calendar ranges at the last
representable day, a version's durations and its workflow key. The history records only what an action used
and its check sees a cut-off tail. A refusal lists exactly the caller's `next_actions`. If-Match compares
strongly (RFC 9110 §13.1.1).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from app.catalogue.schemas import MAX_STEP_HOURS, MAX_WORKING_DAYS
from app.core import clock
from app.core.clock import LOCAL_TZ
from app.workflow.calendar import WorkingCalendar
from app.workflow.calendar_service import deadline_window
from app.workflow.effects import MAX_POSTPONEMENT_DAYS
from tests.support.catalogue_fixtures import procedure_body
from tests.support.workflow_fixtures import behind_the_history_triggers

PLAIN_RESULT = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


def set_clock(monkeypatch: pytest.MonkeyPatch, *args: int) -> None:
    moment = datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[misc]
    monkeypatch.setattr(clock, "now", lambda: moment)


def error_locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in response.json()["errors"]]


# --- an apology's new return date ------------------------------------------------------------------------------

async def test_an_apology_may_move_the_return_date_by_at_most_a_year(flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    for far in ("9999-12-31", "2026-06-01"):  # the last representable day overflowed the arithmetic (500)
        response = await flow.post(flow.processing, dossier["id"], "apologise", reason="Cần xác minh",
                                   new_due_date=far)
        assert response.status_code == 422, response.text
        assert error_locs(response) == [["body", "new_due_date"]]
        assert f"at most {MAX_POSTPONEMENT_DAYS} days" in response.json()["errors"][0]["msg"]
    apologised = await flow.act(flow.processing, dossier["id"], "apologise", reason="Cần xác minh",
                                new_due_date="2026-03-02")  # due 2025-03-10 + 357 days, a Monday
    assert apologised["due_at"].startswith("2026-03-02")


# --- the calendar at the edge of `date` ------------------------------------------------------------------------

async def test_the_calendar_reaches_the_last_representable_day(client):
    response = await client.get("/v1/calendar/working-days?from=9999-12-30&to=9999-12-31")
    assert response.status_code == 200, response.text
    assert [d["date"] for d in response.json()["items"]] == ["9999-12-30", "9999-12-31"]
    calendar = WorkingCalendar()
    assert calendar.count_working_days(date.max, date.max) == 0
    assert calendar.count_working_days(date(9999, 12, 30), date.max) == 1


def test_a_deadline_window_stays_inside_the_representable_dates():
    assert deadline_window(date(9999, 12, 1), MAX_WORKING_DAYS)[1] == date.max
    assert deadline_window(date(1, 1, 5), MAX_WORKING_DAYS)[0] == date.min
    assert deadline_window(date(2025, 1, 1), 2_000_000) == (date.min, date.max)


# --- what a procedure version may say --------------------------------------------------------------------------

@pytest.fixture
async def editor(accounts, catalogue) -> Any:  # type: ignore[no-untyped-def]
    await catalogue.agency("A1")
    await catalogue.field("F1", agency_code="A1")
    return await accounts.official("A1", ("agency_admin",))


async def test_a_version_must_name_a_known_workflow(client, editor):
    # `nofee` (for `no_fee`) used to publish, and then every dossier filed under it answered 500.
    refused = await client.post("/v1/procedures", json=procedure_body("WF-TYPO", workflow="nofee"),
                                headers=editor.headers)
    assert refused.status_code == 422 and refused.json()["code"] == "validation_error", refused.text
    assert error_locs(refused) == [["body", "workflow"]]
    assert "no_fee" in refused.json()["errors"][0]["msg"]  # the known keys are named
    created = await client.post("/v1/procedures", json=procedure_body("WF-OK", workflow="no_fee", fee_items=[]),
                                headers=editor.headers)
    assert created.status_code == 201, created.text
    patched = await client.patch("/v1/procedures/WF-OK/versions/1", json={"workflow": "nofee"},
                                 headers={**editor.headers, "If-Match": created.headers["etag"]})
    assert patched.status_code == 422 and error_locs(patched) == [["body", "workflow"]], patched.text
    document = {"procedures": [procedure_body("WF-IMPORT", workflow="nofee")]}
    imported = await client.post("/v1/catalogue/import", json=document, headers=editor.headers)
    assert imported.status_code == 422 and error_locs(imported) == [["body", "procedures", 0, "workflow"]]


@pytest.mark.parametrize(("fields", "loc"), [
    ({"processing_days": MAX_WORKING_DAYS + 1}, ["body", "processing_days"]),
    ({"processing_days": 2_000_000}, ["body", "processing_days"]),
    ({"step_time_limits": [{"step": "reception", "working_days": MAX_WORKING_DAYS + 1}]},
     ["body", "step_time_limits", 0, "working_days"]),
    ({"step_time_limits": [{"step": "reception", "hours": MAX_STEP_HOURS + 1}]},
     ["body", "step_time_limits", 0, "hours"]),
], ids=["processing_days", "huge_processing_days", "step_working_days", "step_hours"])
async def test_durations_beyond_the_bounds_are_refused(client, editor, fields, loc):
    # 2,000,000 working days used to publish, then overflowed `date` when a dossier was received (500).
    response = await client.post("/v1/procedures", json=procedure_body("DUR-1", **fields), headers=editor.headers)
    assert response.status_code == 422, response.text
    assert error_locs(response) == [loc]


@pytest.mark.parametrize("limit", [{"step": "reception", "working_days": MAX_WORKING_DAYS},
                                   {"step": "assign", "hours": MAX_WORKING_DAYS * 8}])
async def test_durations_at_the_bounds_work_on_receive(flow, limit):
    # One step at a time: together the allowances must fit in the processing days (at 8 hours a day).
    code = await flow.procedure(processing_days=MAX_WORKING_DAYS, step_time_limits=[limit])
    _, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])  # receive (deadline, reception step), then assign (hours)
    listed = await flow.client.get(f"/v1/dossiers/{dossier['id']}/steps", headers=flow.reception.headers)
    steps = {s["step"]: s for s in listed.json()["items"]}
    assert steps[limit["step"]]["overran"] is False


# --- history ---------------------------------------------------------------------------------------------------

async def test_history_check_detects_a_cut_off_last_entry(client, flow):
    """The chain alone looks whole without its tail; the head kept with the dossier's progress does not."""
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.processing, did, "stop", reason="Dừng xử lý theo yêu cầu")  # seq 4
    intact = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert intact.json() == {"valid": True, "entries": 4, "first_broken_seq": None}
    await behind_the_history_triggers(did, "DELETE FROM dossier_history WHERE dossier_id = :id AND seq = 4")
    assert (await flow.get(citizen, did))["state"] == "stopped"
    verdict = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert verdict.json() == {"valid": False, "entries": 3, "first_broken_seq": 4}


async def test_history_records_only_the_fields_the_action_requires(flow):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    received = await flow.act(flow.reception, dossier["id"], "receive", new_due_date="2099-01-01",
                              items=["Bản sao CCCD"], delivery={"method": "post", "tracking_number": "EB123456789VN"})
    assert not received["due_at"].startswith("2099")
    details = (await flow.history(citizen, dossier["id"]))[-1]["details"]
    assert not {"new_due_date", "items", "delivery"} & set(details), details


# --- refusals list the caller's next actions -------------------------------------------------------------------

async def test_a_refused_guard_lists_the_callers_next_actions(flow):
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    result = await flow.upload_result(did, PLAIN_RESULT)
    refused = await flow.post(flow.approval, did, "issue_result", attachments=[result])  # not approved yet
    assert refused.status_code == 409 and refused.json()["extra"]["guard"] == "approved", refused.text
    allowed = refused.json()["extra"]["allowed_actions"]
    assert "issue_result" not in allowed
    assert allowed == (await flow.get(flow.approval, did))["next_actions"]


async def test_an_action_from_the_wrong_state_lists_the_callers_next_actions(flow):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    refused = await flow.post(flow.approval, did, "receive")
    assert refused.status_code == 409 and refused.json()["code"] == "transition_not_allowed", refused.text
    allowed = refused.json()["extra"]["allowed_actions"]
    assert "withdraw" not in allowed  # the applicant's action, not the approver's
    assert allowed == (await flow.get(flow.approval, did))["next_actions"]
    by_citizen = await flow.post(citizen, did, "receive")
    assert by_citizen.json()["extra"]["allowed_actions"] == ["withdraw"]


# --- If-Match --------------------------------------------------------------------------------------------------

async def test_if_match_with_a_weak_etag_never_matches(flow):
    """RFC 9110 §13.1.1: If-Match uses the strong comparison; W/"n" never matches."""
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    version = dossier["version"]
    weak = await flow.post(flow.reception, dossier["id"], "receive", etag=f'W/"{version}"')
    assert weak.status_code == 412 and weak.json()["code"] == "precondition_failed", weak.text
    assert weak.headers["etag"] == f'"{version}"'
    either = await flow.post(flow.reception, dossier["id"], "receive", etag=f'W/"{version}", "{version}"')
    assert either.status_code == 200, either.text  # the strong tag in the list matches


# --- reasons and items are legible text; a fee line is exempted once ----------------------------------------

@pytest.mark.parametrize("reason", ["\u200b", "Thiếu\x00giấy tờ", "\u200b \u2060"],
                         ids=["zero_width", "nul", "invisible"])
async def test_a_reason_must_be_legible_text(flow, reason):
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    refused = await flow.post(flow.reception, dossier["id"], "reject", reason=reason)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"][:2] == ["body", "reason"]
    items = await flow.post(flow.reception, dossier["id"], "request_supplement", items=["Bản sao CCCD", "\u200b"])
    assert items.status_code == 422, items.text
    kept = await flow.act(flow.reception, dossier["id"], "reject", reason="Hồ sơ không thuộc thẩm quyền\n(điều 5)")
    assert kept["state"] == "rejected"


async def test_a_fee_line_is_exempted_once(flow):
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    twice = await flow.post(flow.reception, dossier["id"], "request_payment",
                            exemptions=[{"item": 0, "reason": "Hộ nghèo"}, {"item": 0, "reason": "Người có công"}])
    assert twice.status_code == 422 and twice.json()["errors"][0]["loc"][:2] == ["body", "exemptions"], twice.text


async def test_a_dossier_whose_workflow_is_no_longer_shipped_answers_409_not_500(flow):
    # Versions written before workflow keys were checked, or a deployment that stopped shipping a definition.
    from sqlalchemy import text

    from app.core.db import get_database

    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    async with get_database().write_engine.begin() as connection:
        await connection.execute(text("UPDATE procedure_versions SET workflow = 'retired' WHERE procedure_code = :c"),
                                 {"c": code})
    seen = await flow.get(flow.reception, dossier["id"])
    assert seen["next_actions"] == [] and seen["state"] == "submitted"
    refused = await flow.post(flow.reception, dossier["id"], "receive")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "workflow_unavailable" and refused.json()["extra"] == {"workflow": "retired"}
    assert (await flow.get(flow.reception, dossier["id"]))["version"] == seen["version"]  # nothing written


async def test_a_step_has_one_time_limit(client, editor):
    twice = [{"step": "reception", "working_days": 1}, {"step": "reception", "hours": 4}]
    created = await client.post("/v1/procedures", json=procedure_body("STEP-1", step_time_limits=twice),
                                headers=editor.headers)
    assert created.status_code == 422 and error_locs(created) == [["body", "step_time_limits"]], created.text
    once = await client.post("/v1/procedures", json=procedure_body("STEP-2", step_time_limits=twice[:1]),
                             headers=editor.headers)
    assert once.status_code == 201, once.text
    patched = await client.patch("/v1/procedures/STEP-2/versions/1", json={"step_time_limits": twice},
                                 headers={**editor.headers, "If-Match": once.headers["etag"]})
    assert patched.status_code == 422 and error_locs(patched) == [["body", "step_time_limits"]], patched.text


async def test_fees_due_before_processing_need_a_workflow_that_requests_them(client, editor):
    # `no_fee` has no request_payment: such a dossier was received and processed without ever being charged.
    before = [{"kind": "fee", "name": "Lệ phí", "amount": 50000, "due": "before_processing"}]
    refused = await client.post("/v1/procedures", json=procedure_body("NOFEE-1", workflow="no_fee", fee_items=before),
                                headers=editor.headers)
    assert refused.status_code == 422 and error_locs(refused) == [["body", "fee_items"]], refused.text
    on_result = [{**before[0], "due": "on_result"}]
    created = await client.post("/v1/procedures", json=procedure_body("NOFEE-2", workflow="no_fee",
                                                                      fee_items=on_result), headers=editor.headers)
    assert created.status_code == 201, created.text
    patched = await client.patch("/v1/procedures/NOFEE-2/versions/1", json={"fee_items": before},
                                 headers={**editor.headers, "If-Match": created.headers["etag"]})
    assert patched.status_code == 422 and error_locs(patched) == [["body", "fee_items"]], patched.text
    document = {"procedures": [procedure_body("NOFEE-3", workflow="no_fee", fee_items=before)]}
    imported = await client.post("/v1/catalogue/import", json=document, headers=editor.headers)
    assert imported.status_code == 422 and error_locs(imported) == [["body", "procedures", 0, "fee_items"]]
    standard = await client.post("/v1/procedures", json=procedure_body("FEE-STD", fee_items=before),
                                 headers=editor.headers)
    assert standard.status_code == 201, standard.text


async def test_a_time_limit_must_name_a_step_the_workflow_records(client, editor):
    # Accepted before, a limit for "appraisal" (the step is `appraise`) or "processing" was never applied: the
    # steps answered no allowance and no overrun, and nobody was told the province's limit went unchecked.
    misnamed = [{"step": "appraisal", "working_days": 1}, {"step": "processing", "hours": 1}]
    refused = await client.post("/v1/procedures", json=procedure_body("STEPN-1", step_time_limits=misnamed),
                                headers=editor.headers)
    assert refused.status_code == 422 and error_locs(refused) == [["body", "step_time_limits"]], refused.text
    assert "'appraisal', 'processing'" in refused.text and "appraise" in refused.text
    named = [{"step": "appraise", "working_days": 1}, {"step": "return_result", "hours": 4}]
    created = await client.post("/v1/procedures", json=procedure_body("STEPN-2", step_time_limits=named),
                                headers=editor.headers)
    assert created.status_code == 201, created.text
    patched = await client.patch("/v1/procedures/STEPN-2/versions/1", json={"step_time_limits": misnamed[:1]},
                                 headers={**editor.headers, "If-Match": created.headers["etag"]})
    assert patched.status_code == 422 and error_locs(patched) == [["body", "step_time_limits"]], patched.text

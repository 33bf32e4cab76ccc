"""Edges a careless or hostile caller reaches: what a calendar note, a postal tracking number and an
integrator's token may do. Each case answered wrongly before (stored junk, a silently wrong record, an
internal notice shown outside the agency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from app.core import clock
from app.core.clock import LOCAL_TZ
from tests.support.identity_fixtures import DEFAULT_AGENCY

PLAIN_RESULT = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


async def processed_dossier(flow: Any) -> tuple[Any, str]:
    return await processed_dossier_of(flow, await flow.procedure())


async def processed_dossier_of(flow: Any, code: str) -> tuple[Any, str]:
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.approval, did, "approve")
    await flow.act(flow.approval, did, "issue_result", attachments=[await flow.upload_result(did, PLAIN_RESULT)])
    return citizen, did


@pytest.mark.parametrize("note", ["Quyết định\x00 số 1", "Hoán đổi\x07", "\u200b\u2060"],
                         ids=["nul", "bell", "invisible"])
async def test_a_calendar_note_must_be_legible_text(client, accounts, note):
    # Stored as is on SQLite (and printed as the day's reason); PostgreSQL refused the NUL naming no field.
    admin = await accounts.admin()
    response = await client.put("/v1/calendar/overrides/2031-01-06", json={"working": False, "note": note},
                                headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "note"]
    listed = await client.get("/v1/calendar/overrides?from=2031-01-06&to=2031-01-06", headers=admin.headers)
    assert listed.json()["items"] == []  # nothing written


async def test_a_tracking_number_is_only_for_a_postal_return(flow):
    # Accepted with `online`: the history and the return notice said the result went by post with that number.
    citizen, did = await processed_dossier(flow)
    refused = await flow.post(flow.reception, did, "return_result",
                              delivery={"method": "online", "tracking_number": "EB123456789VN"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "delivery"]
    returned = await flow.act(flow.reception, did, "return_result",
                              delivery={"method": "desk", "tracking_number": None})
    assert returned["state"] == "returned"
    notice = next(n for n in await flow.notices(citizen, did) if n["kind"] == "returned")
    assert notice["content"]["delivery"]["tracking_number"] is None


@pytest.mark.parametrize("number", ["EB\x00123", "EB123\u200b456VN", "EB123\n456VN", "\u200b"],
                         ids=["nul", "zero_width", "line_break", "invisible"])
async def test_a_tracking_number_is_a_carrier_code(flow, number):
    # Control and invisible characters went into the history and the printed notice; a NUL was stored on
    # SQLite and refused on PostgreSQL with a 422 naming no field.
    _, did = await processed_dossier(flow)
    refused = await flow.post(flow.reception, did, "return_result",
                              delivery={"method": "post", "tracking_number": number})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"][:3] == ["body", "delivery", "tracking_number"]
    kept = await flow.act(flow.reception, did, "return_result",
                          delivery={"method": "post", "tracking_number": " EB 123 456 789 VN "})
    assert kept["state"] == "returned"


async def test_an_integrator_does_not_see_the_internal_explanation(flow, accounts, monkeypatch):
    """Resolution 131's explanation is addressed to the head of the agency: officials only, not a client token
    that reads the agency's dossiers."""
    moment = datetime(2025, 3, 3, 9, 0, tzinfo=LOCAL_TZ)
    monkeypatch.setattr(clock, "now", lambda: moment)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.processing, did, "apologise", reason="Cần xác minh", new_due_date="2025-03-14")
    explanation = next(n for n in await flow.notices(flow.processing, did) if n["kind"] == "explanation")
    integrator = await accounts.client(("dossiers:read",), (DEFAULT_AGENCY,))
    assert [n["kind"] for n in await flow.notices(integrator, did)] == ["receipt", "apology"]
    one = await flow.client.get(f"/v1/dossiers/{did}/notices/{explanation['id']}", headers=integrator.headers)
    assert one.status_code == 404 and one.json()["code"] == "not_found", one.text


@pytest.mark.parametrize("agency", ["A%00B", "%E2%80%8B", "A%20B"], ids=["nul", "invisible", "space"])
async def test_the_calendars_agency_is_an_agency_code(client, agency):
    # A NUL answered 404 on SQLite and a 422 naming no field on PostgreSQL.
    response = await client.get(f"/v1/calendar/working-days?from=2025-01-01&to=2025-01-02&agency={agency}")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "agency"]


async def test_the_no_fee_process_still_charges_fees_due_on_the_result(flow):
    # It left out the on-result obligation and its guard too: the result went back and nothing was ever owed.
    code = await flow.procedure(workflow="no_fee", fee_items=[
        {"kind": "charge", "name": "Phí thẩm định", "amount": 200000, "due": "on_result"}])
    citizen, did = await processed_dossier_of(flow, code)
    fees = await flow.client.get(f"/v1/dossiers/{did}/fees", headers=citizen.headers)
    assert [(o["stage"], o["due"]) for o in fees.json()["obligations"]] == [("on_result", 200000)], fees.text
    assert "return_result" not in (await flow.get(flow.reception, did))["next_actions"]
    unpaid = await flow.post(flow.reception, did, "return_result", delivery={"method": "desk"})
    assert unpaid.status_code == 409 and unpaid.json()["code"] == "fees_unpaid", unpaid.text


async def test_an_appraisal_after_the_approval_needs_approving_again(flow):
    # The approval stood: a result could be issued on an appraisal the approver never saw.
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.approval, did, "approve")
    await flow.act(flow.processing, did, "appraise", reason="Bổ sung ý kiến thẩm định")
    result = await flow.upload_result(did, PLAIN_RESULT)
    refused = await flow.post(flow.approval, did, "issue_result", attachments=[result])
    assert refused.status_code == 409 and refused.json()["extra"]["guard"] == "approved", refused.text
    await flow.act(flow.approval, did, "approve")
    assert (await flow.act(flow.approval, did, "issue_result", attachments=[result]))["state"] == "processed"

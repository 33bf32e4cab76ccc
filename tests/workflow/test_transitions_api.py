"""POST /v1/dossiers/{id}/transitions over HTTP: the main path, preconditions, roles, history and outbox."""

from __future__ import annotations

import itertools

from app.core.pdf import render_document
from tests.support.workflow_fixtures import outbox_events


async def test_received_processing_processed_returned(client, flow, pki):
    code = await flow.procedure(processing_days=5, result={"name": "Giấy chứng nhận", "must_be_signed": True},
                                step_time_limits=[{"step": "appraise", "working_days": 2},
                                                  {"step": "reception", "hours": 4}])
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    assert (dossier["state"], dossier["national_status_code"]) == ("submitted", 1)
    assert (await flow.get(flow.reception, did))["next_actions"] == ["receive", "reject", "request_supplement"]
    assert (await flow.get(citizen, did))["next_actions"] == ["withdraw"]

    received = await flow.act(flow.reception, did, "receive")
    assert (received["state"], received["national_status_code"]) == ("received", 2)
    assert received["received_at"] and received["due_at"] == received["original_due_at"]
    assert received["next_actions"] == ["request_supplement", "assign"]

    bad_assignee = await flow.post(flow.reception, did, "assign", assignee=str(citizen.id))
    assert bad_assignee.status_code == 422 and bad_assignee.json()["errors"][0]["loc"] == ["body", "assignee"]
    processing = await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))
    assert (processing["state"], processing["national_status_code"]) == ("processing", 4)
    appraised = await flow.act(flow.processing, did, "appraise")
    assert appraised["state"] == "processing" and appraised["version"] == processing["version"] + 1

    early = await flow.post(flow.approval, did, "issue_result", attachments=[])
    assert early.status_code == 422  # attachments required
    unsigned_id = await flow.upload_result(did, render_document(issuer="Sở KH&CN", title="Giấy chứng nhận"))
    not_approved = await flow.post(flow.approval, did, "issue_result", attachments=[unsigned_id])
    assert not_approved.status_code == 409 and not_approved.json()["code"] == "transition_not_allowed"
    await flow.act(flow.approval, did, "approve")
    unsigned = await flow.post(flow.approval, did, "issue_result", attachments=[unsigned_id])
    assert unsigned.status_code == 422 and unsigned.json()["code"] == "result_not_signed"

    signed = await pki.sign(render_document(issuer="Sở KH&CN", title="Giấy chứng nhận"))
    signed_id = await flow.upload_result(did, signed)
    processed = await flow.act(flow.approval, did, "issue_result", attachments=[signed_id])
    assert (processed["state"], processed["national_status_code"]) == ("processed", 9)
    assert processed["finished_at"] is not None and processed["overdue"] is False

    no_tracking = await flow.post(flow.reception, did, "return_result", delivery={"method": "post"})
    assert no_tracking.status_code == 422
    no_delivery = await flow.post(flow.reception, did, "return_result")
    assert no_delivery.status_code == 422 and no_delivery.json()["errors"][0]["loc"] == ["body", "delivery"]
    returned = await flow.act(flow.reception, did, "return_result",
                              delivery={"method": "post", "tracking_number": "EL123456789VN"})
    assert (returned["state"], returned["national_status_code"]) == ("returned", 10)
    assert returned["next_actions"] == []

    entries = await flow.history(citizen, did)
    assert [(e["action"], e["from"], e["to"], e["from_code"], e["to_code"]) for e in entries] == [
        ("submit", "draft", "submitted", None, 1), ("receive", "submitted", "received", 1, 2),
        ("assign", "received", "processing", 2, 4), ("appraise", "processing", "processing", 4, 4),
        ("approve", "processing", "processing", 4, 4), ("issue_result", "processing", "processed", 4, 9),
        ("return_result", "processed", "returned", 9, 10)]
    assert entries[0]["actor"] == {"id": str(citizen.id), "kind": "citizen", "name": "Trần Văn Đức"}
    assert entries[2]["actor"]["id"] == str(flow.reception.id)
    assert entries[5]["details"]["signatures"][0]["signer"].startswith("Common Name: Nguyễn Văn Duyệt")
    assert entries[6]["details"]["delivery"] == {"method": "post", "tracking_number": "EL123456789VN"}
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(entries))
    verify = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert verify.json() == {"valid": True, "entries": 7, "first_broken_seq": None}

    listed = (await client.get(f"/v1/dossiers/{did}/steps", headers=flow.reception.headers)).json()
    steps = listed["items"]
    assert listed["next_cursor"] is None  # one page: six steps, 50 a page by default
    assert [s["step"] for s in steps] == ["reception", "assign", "appraise", "approve", "issue_result",
                                          "return_result"]
    by_step = {s["step"]: s for s in steps}
    assert by_step["appraise"]["holder_id"] == str(flow.processing.id)
    assert by_step["appraise"]["allowance_working_days"] == 2 and by_step["appraise"]["overran"] is False
    assert by_step["reception"]["allowance_hours"] == 4 and by_step["assign"]["overran"] is None
    assert by_step["issue_result"]["holder_name"] == "Nguyễn Văn Duyệt"

    events = await outbox_events(did)
    assert [(e["action"], e["from"], e["to"], e["national_status_code"]) for e in events] == [
        (e["action"], e["from"], e["to"], e["to_code"]) for e in entries[1:]]
    assert events[0]["code"] == dossier["code"] and events[0]["procedure_code"] == code
    assert {e["agency_code"] for e in events} == {dossier["agency_code"]}
    kinds = [n["kind"] for n in await flow.notices(citizen, did)]
    assert kinds == ["receipt", "result", "returned"]


async def test_if_match_is_required_and_checked(client, flow):
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    url = f"/v1/dossiers/{dossier['id']}/transitions"
    missing = await client.post(url, json={"action": "receive"}, headers=flow.reception.headers)
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    stale = await client.post(url, json={"action": "receive"}, headers={**flow.reception.headers, "If-Match": '"0"'})
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    ok = await client.post(url, json={"action": "receive"},
                           headers={**flow.reception.headers, "If-Match": f'"{dossier["version"]}"'})
    assert ok.status_code == 200 and ok.headers["etag"] == f'"{dossier["version"] + 1}"'
    again = await client.post(url, json={"action": "receive"},
                              headers={**flow.reception.headers, "If-Match": f'"{dossier["version"]}"'})
    assert again.status_code == 412


async def test_roles_agencies_and_allowed_actions(client, flow, accounts):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    by_citizen = await flow.post(citizen, did, "receive")
    assert by_citizen.status_code == 403 and by_citizen.json()["code"] == "forbidden_role"
    wrong_role = await flow.post(flow.approval, did, "receive")
    assert wrong_role.status_code == 403 and wrong_role.json()["code"] == "forbidden_role"
    elsewhere = await accounts.official("000.00.99.H99", ["reception"])
    foreign = await flow.post(elsewhere, did, "receive", etag=f'"{dossier["version"]}"')
    assert foreign.status_code == 404
    admin = await accounts.admin()
    by_admin = await flow.post(admin, did, "receive")
    assert by_admin.status_code == 403  # system administrators take no part in processing
    assert (await flow.get(admin, did))["next_actions"] == []
    other_citizen = await accounts.citizen()
    assert (await flow.post(other_citizen, did, "withdraw", etag='"1"')).status_code == 404
    not_now = await flow.post(flow.reception, did, "return_result", delivery={"method": "online"})
    assert not_now.status_code == 409 and not_now.json()["code"] == "transition_not_allowed"
    assert not_now.json()["extra"]["allowed_actions"] == ["receive", "reject", "request_supplement"]  # next_actions
    unknown = await flow.post(flow.reception, did, "teleport")
    assert unknown.status_code == 409
    no_reason = await flow.post(flow.reception, did, "reject")
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["loc"] == ["body", "reason"]
    assert len(await flow.history(citizen, did)) == 1  # nothing failed left a trace


async def test_list_shows_workflow_fields_without_next_actions(client, flow):
    code = await flow.procedure(processing_days=3)
    _, dossier = await flow.submitted(code)
    await flow.act(flow.reception, dossier["id"], "receive")
    page = (await client.get("/v1/dossiers", headers=flow.reception.headers)).json()
    item = next(i for i in page["items"] if i["id"] == dossier["id"])
    assert item["next_actions"] is None and item["original_due_at"] == item["due_at"] is not None
    assert item["overdue"] is False and item["paused_working_days"] == 0

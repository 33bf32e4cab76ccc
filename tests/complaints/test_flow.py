"""Complaints through the API: filing, the answer's due date in working days, answering with If-Match, rating once,
the lists, the events, and who may do what (another applicant 404, another agency 404, a role that may not 403)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.complaints.conftest import Complaints
from tests.reporting.conftest import Clock
from tests.support.identity_fixtures import Accounts
from tests.support.workflow_fixtures import Flow, outbox_events

OTHER_AGENCY = "000.00.77.H01"


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_filed_answered_rated(client, flow: Flow, at: Clock, complaints: Complaints) -> None:
    # Thursday 24 April 2025, 10:00 local. Ten working days: Fri 25, Sat 26 (worked: swapped for Fri 2 May), Mon 28,
    # Tue 29 (Wed 30 April to Sun 4 May off), Mon 5 to Fri 9, Mon 12 May: due at 17:00 local that day.
    at.set(2025, 4, 24, 10, 0)
    code = await flow.procedure(processing_days=15)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    filed = await client.post(f"/v1/dossiers/{did}/complaints", headers=citizen.headers,
                              json={"kind": "feedback", "text": "  Đề nghị bổ sung hướng dẫn nộp trực tuyến  "})
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert filed.headers["etag"] == '"1"' and filed.headers["location"] == f"/v1/complaints/{body['id']}"
    assert body["kind"] == "feedback" and body["text"] == "Đề nghị bổ sung hướng dẫn nộp trực tuyến"
    assert body["state"] == "open" and body["overdue"] is False and body["rating"] is None
    assert body["filed_by"] == str(citizen.id) and body["dossier_id"] == did
    assert moment(body["due_at"]) == datetime(2025, 5, 12, 10, 0, tzinfo=UTC)
    cid = body["id"]

    mine = await client.get(f"/v1/dossiers/{did}/complaints", headers=citizen.headers)
    assert mine.status_code == 200 and [c["id"] for c in mine.json()["items"]] == [cid]
    queue = await client.get("/v1/complaints", headers=flow.reception.headers)
    assert queue.status_code == 200 and [c["id"] for c in queue.json()["items"]] == [cid]

    early = await complaints.rate(citizen, cid, True)
    assert early.status_code == 409 and early.json()["code"] == "complaint_not_answered"
    url = f"/v1/complaints/{cid}/answer"
    bare = await client.post(url, headers=flow.processing.headers, json={"answer": "Đã tiếp thu"})
    assert bare.status_code == 428 and bare.json()["code"] == "precondition_required"
    stale = await complaints.answer(flow.processing, cid, etag='"7"')
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert stale.headers["etag"] == '"1"'

    at.set(2025, 5, 12, 17, 0)  # the last moment that is still on time
    answered = await complaints.answer(flow.processing, cid, "Đã tiếp thu, sẽ cập nhật hướng dẫn", etag='"1"')
    assert answered.status_code == 200, answered.text
    assert answered.headers["etag"] == '"2"'
    out = answered.json()
    assert out["state"] == "answered" and out["answer"] == "Đã tiếp thu, sẽ cập nhật hướng dẫn"
    assert out["answered_by"] == str(flow.processing.id) and out["overdue"] is False
    assert moment(out["answered_at"]) == datetime(2025, 5, 12, 10, 0, tzinfo=UTC)
    twice = await complaints.answer(flow.reception, cid, etag='"2"')
    assert twice.status_code == 409 and twice.json()["code"] == "complaint_already_answered"
    old = await complaints.answer(flow.reception, cid, etag='"1"')
    assert old.status_code == 412

    rated = await complaints.rate(citizen, cid, False)
    assert rated.status_code == 200, rated.text
    assert rated.json()["rating"]["satisfied"] is False and rated.headers["etag"] == '"3"'
    again = await complaints.rate(citizen, cid, True)
    assert again.status_code == 409 and again.json()["code"] == "complaint_already_rated"
    seen = await client.get(f"/v1/complaints/{cid}", headers=flow.reception.headers)
    assert seen.status_code == 200 and seen.json()["rating"]["satisfied"] is False

    filed_events = await outbox_events(did, "complaint.filed")
    answered_events = await outbox_events(did, "complaint.answered")
    assert [e["complaint_id"] for e in filed_events] == [cid] and filed_events[0]["kind"] == "feedback"
    assert [(e["complaint_id"], e["on_time"]) for e in answered_events] == [(cid, True)]


async def test_late_answer_and_what_cannot_be_filed(client, flow: Flow, at: Clock, complaints: Complaints,
                                                    accounts: Accounts) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    draft = await flow.dossiers.draft(client, citizen, code)
    refused = await client.post(f"/v1/dossiers/{draft['id']}/complaints", headers=citizen.headers,
                                json={"text": "Không nộp được"})
    assert refused.status_code == 409 and refused.json()["code"] == "complaint_not_allowed"
    url = f"/v1/dossiers/{dossier['id']}/complaints"
    for bad in ({"text": ""}, {"text": "   "}, {"text": "\u200b"}, {"kind": "praise", "text": "x"},
                {"text": "x", "extra": 1}, {"text": "a\x00b"}, {"text": "x" * 4001}, {}):
        response = await client.post(url, headers=citizen.headers, json=bad)
        assert response.status_code == 422, (bad, response.text)
    cid = (await complaints.file(citizen, dossier["id"]))["id"]
    assert (await client.get(f"/v1/complaints/{cid}", headers=citizen.headers)).json()["kind"] == "complaint"
    at.set(2025, 3, 17, 17, 1)  # due Mon 17 March 17:00 local: a minute late
    listed = await client.get("/v1/complaints", params={"overdue": "true"}, headers=flow.reception.headers)
    assert [c["id"] for c in listed.json()["items"]] == [cid] and listed.json()["items"][0]["overdue"] is True
    late = await complaints.answered(flow.reception, cid)
    assert late["overdue"] is True
    assert [e["on_time"] for e in await outbox_events(dossier["id"], "complaint.answered")] == [False]
    for blank in ({"answer": " "}, {}, {"answer": "ok", "x": 1}):
        response = await client.post(f"/v1/complaints/{cid}/answer", json=blank,
                                     headers={**flow.reception.headers, "If-Match": "*"})
        assert response.status_code == 422, (blank, response.text)


async def test_who_may_see_answer_and_rate(client, flow: Flow, at: Clock, complaints: Complaints,
                                           accounts: Accounts) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    cid = (await complaints.file(citizen, did))["id"]
    stranger = await accounts.citizen()
    elsewhere = await accounts.official(OTHER_AGENCY, ["reception", "processing", "approval"])
    integrator = await accounts.client(["dossiers:read"], ["000.00.12.H01"])
    admin = await accounts.admin()
    one, answer = f"/v1/complaints/{cid}", f"/v1/complaints/{cid}/answer"
    missing = f"/v1/complaints/{uuid.uuid4()}"
    if_match = {"If-Match": '"1"'}

    async def status(actor, method, path, json=None, headers=None):  # type: ignore[no-untyped-def]
        response = await client.request(method, path, json=json, headers={**actor.headers, **(headers or {})})
        return response.status_code, response.json().get("code") if response.status_code >= 400 else None

    hidden = (404, "not_found")
    # Another applicant: the dossier and its complaints do not exist for them (the 404 of a random id).
    assert await status(stranger, "POST", f"/v1/dossiers/{did}/complaints", {"text": "x"}) == hidden
    assert await status(stranger, "GET", f"/v1/dossiers/{did}/complaints") == hidden
    assert await status(stranger, "GET", one) == hidden == await status(stranger, "GET", missing)
    assert await status(stranger, "POST", f"{one}/rating", {"satisfied": True}) == hidden
    # Another agency's official: not theirs to see or answer, nor to list.
    assert await status(elsewhere, "GET", one) == hidden
    assert await status(elsewhere, "POST", answer, {"answer": "x"}, if_match) == hidden
    assert await status(elsewhere, "GET", "/v1/complaints", None) == (200, None)
    assert (await client.get("/v1/complaints", headers=elsewhere.headers)).json()["items"] == []
    assert await status(elsewhere, "GET", "/v1/complaints?agency=000.00.12.H01") == hidden
    # The agency's officials all read it; only reception and processing answer and list.
    assert await status(flow.approval, "GET", one) == (200, None)
    assert await status(flow.approval, "POST", answer, {"answer": "x"}, if_match) == (403, "forbidden_role")
    assert await status(flow.finance, "GET", "/v1/complaints") == (403, "forbidden_role")
    # Never an integrator's; the applicant and officials do not swap parts; the administrator lists, not answers.
    assert await status(integrator, "GET", one) == (403, "forbidden_role")
    assert await status(integrator, "GET", f"/v1/dossiers/{did}/complaints") == (403, "forbidden_role")
    assert await status(flow.reception, "POST", f"/v1/dossiers/{did}/complaints", {"text": "x"}) == \
        (403, "forbidden_role")
    assert await status(citizen, "POST", answer, {"answer": "x"}, if_match) == (403, "forbidden_role")
    assert await status(citizen, "GET", "/v1/complaints") == (403, "forbidden_role")
    assert await status(admin, "POST", answer, {"answer": "x"}, if_match) == (403, "forbidden_role")
    everything = await client.get("/v1/complaints", params={"agency": "000.00.12.H01"}, headers=admin.headers)
    assert [c["id"] for c in everything.json()["items"]] == [cid]
    # The complainant alone rates, once answered.
    await complaints.answered(flow.processing, cid)
    assert await status(flow.processing, "POST", f"{one}/rating", {"satisfied": True}) == (403, "forbidden_role")
    assert await status(stranger, "POST", f"{one}/rating", {"satisfied": True}) == hidden
    assert (await complaints.rate(citizen, cid, True)).status_code == 200


async def test_a_representative_files_and_rates_for_the_organisation(client, flow: Flow, at: Clock,
                                                                     complaints: Complaints,
                                                                     accounts: Accounts) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    org, rep = await accounts.organisation(), await accounts.citizen()
    link = await accounts.representative(org, rep)
    _, dossier = await flow.submitted(code, org)
    on_behalf = {"X-On-Behalf-Of": str(org.id)}
    filed = await complaints.file(rep, dossier["id"], headers=on_behalf)
    assert filed["filed_by"] == str(rep.id)
    own = await client.get(f"/v1/dossiers/{dossier['id']}/complaints", headers=org.headers)
    assert [c["id"] for c in own.json()["items"]] == [filed["id"]]
    hidden = await client.get(f"/v1/complaints/{filed['id']}", headers=rep.headers)  # acting for itself
    assert hidden.status_code == 404
    await complaints.answered(flow.reception, filed["id"])
    removed = await client.delete(f"/v1/accounts/me/representatives/{link}", headers=org.headers)
    assert removed.status_code == 204
    gone = await complaints.rate(rep, filed["id"], True, headers=on_behalf)
    assert gone.status_code == 403 and gone.json()["code"] == "not_a_representative"
    assert (await complaints.rate(org, filed["id"], True)).status_code == 200


async def test_due_dates_in_working_days(client, flow: Flow, at: Clock, complaints: Complaints,
                                         accounts: Accounts, settings_env) -> None:
    at.set(2025, 2, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    at.set(2025, 4, 24, 10, 0)
    in_hours = await complaints.file(citizen, dossier["id"])
    assert moment(in_hours["due_at"]) == datetime(2025, 5, 12, 10, 0, tzinfo=UTC)
    at.set(2025, 4, 24, 18, 0)  # after 17:00: counted from Friday 25 April, due a working day later
    after_hours = await complaints.file(citizen, dossier["id"])
    assert moment(after_hours["due_at"]) == datetime(2025, 5, 13, 10, 0, tzinfo=UTC)
    # A day the override table makes a day off (Tuesday 6 May) moves the due date out by one.
    admin = await accounts.admin()
    put = await client.put("/v1/calendar/overrides/2025-05-06", headers=admin.headers,
                           json={"working": False, "note": "Nghỉ bù"})
    assert put.status_code in (200, 201), put.text
    at.set(2025, 4, 24, 10, 0)
    moved = await complaints.file(citizen, dossier["id"])
    assert moment(moved["due_at"]) == datetime(2025, 5, 13, 10, 0, tzinfo=UTC)
    # The allowance is a setting: 3 working days from Saturday 1 March (a day off) is Thursday 6 March.
    settings_env(DVC_COMPLAINT_ANSWER_WORKING_DAYS="3")
    at.set(2025, 3, 1, 9, 0)
    short = await complaints.file(citizen, dossier["id"])
    assert moment(short["due_at"]) == datetime(2025, 3, 6, 10, 0, tzinfo=UTC)


async def test_lists_filter_and_page(client, flow: Flow, at: Clock, complaints: Complaints,
                                     accounts: Accounts) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    ids = []
    for minute in range(3):
        at.set(2025, 3, 3, 9, minute)
        ids.append((await complaints.file(citizen, dossier["id"]))["id"])
    await complaints.answered(flow.reception, ids[0])
    at.set(2025, 3, 20, 9, 0)  # past the due date (17 March) of the two still open
    headers = flow.processing.headers

    async def listed(**params: str) -> list[str]:
        response = await client.get("/v1/complaints", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await listed() == ids[::-1]
    assert await listed(state="open") == [ids[2], ids[1]]
    assert await listed(state="answered") == [ids[0]]
    assert await listed(overdue="true") == [ids[2], ids[1]]
    assert await listed(overdue="false") == [ids[0]]
    assert await listed(agency="000.00.12.H01", state="answered", overdue="true") == []
    first = await client.get("/v1/complaints", params={"limit": 2}, headers=headers)
    cursor = first.json()["next_cursor"]
    assert [c["id"] for c in first.json()["items"]] == [ids[2], ids[1]] and cursor
    rest = await client.get("/v1/complaints", params={"limit": 2, "cursor": cursor}, headers=headers)
    assert [c["id"] for c in rest.json()["items"]] == [ids[0]] and rest.json()["next_cursor"] is None
    page = await client.get(f"/v1/dossiers/{dossier['id']}/complaints", params={"limit": 1}, headers=citizen.headers)
    assert [c["id"] for c in page.json()["items"]] == [ids[2]] and page.json()["next_cursor"]
    bad = await client.get("/v1/complaints", params={"state": "closed"}, headers=headers)
    assert bad.status_code == 422
    forged = await client.get("/v1/complaints", params={"cursor": "WzEsMl0"}, headers=headers)
    assert forged.status_code == 422

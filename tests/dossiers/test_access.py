"""BOLA: nobody reaches a dossier or attachment they may not see (404, never 403), and desk/post intake."""

from __future__ import annotations

import uuid

from tests.support.dossier_fixtures import OPTIONAL_PARTS, PDF


async def test_second_citizen_gets_404_on_every_route(client, accounts, dossiers):
    code = await dossiers.procedure()
    owner = await accounts.citizen()
    other = await accounts.citizen()
    draft = await dossiers.draft(client, owner, code)
    attachment = (await dossiers.upload(client, owner, draft["id"])).json()
    base = f"/v1/dossiers/{draft['id']}"
    att = f"{base}/attachments/{attachment['id']}"
    h = other.headers
    calls = [
        client.get(base, headers=h),
        client.patch(base, headers={**h, "If-Match": '"1"'}, json={"form": {}}),
        client.delete(base, headers=h),
        client.get(f"{base}/attachments", headers=h),
        client.post(f"{base}/attachments", headers=h, data={"part": "application_form"},
                    files={"file": ("x.pdf", PDF, "application/pdf")}),
        client.get(f"{att}/content", headers=h),
        client.delete(att, headers=h),
        client.post(f"{base}/submit", headers=h),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
        assert response.json()["code"] == "not_found"
    listed = await client.get("/v1/dossiers", headers=h)
    assert listed.json()["items"] == []
    # And the dossier is intact for its owner.
    assert (await client.get(base, headers=owner.headers)).json()["state"] == "draft"
    assert len((await client.get(f"{base}/attachments", headers=owner.headers)).json()["items"]) == 1
    # An unknown id answers the same.
    assert (await client.get(f"/v1/dossiers/{uuid.uuid4()}", headers=owner.headers)).status_code == 404


async def test_drafts_are_private_officials_see_their_agency_after_submit(client, accounts, dossiers):
    code = await dossiers.procedure("000.00.12.H01")
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    elsewhere = await accounts.official("000.00.99.H01", ["reception"])
    reader = await accounts.client(["dossiers:read"], ["000.00.12.H01"])
    outsider_client = await accounts.client(["dossiers:read"], ["000.00.99.H01"])
    url = f"/v1/dossiers/{draft['id']}"
    assert (await client.get(url, headers=clerk.headers)).status_code == 404
    await dossiers.upload(client, citizen, draft["id"])
    await dossiers.submit(client, citizen, draft["id"])
    assert (await client.get(url, headers=clerk.headers)).status_code == 200
    assert (await client.get(url, headers=reader.headers)).status_code == 200
    attachment_list = await client.get(f"{url}/attachments", headers=clerk.headers)
    assert attachment_list.status_code == 200 and len(attachment_list.json()["items"]) == 1
    assert (await client.get(url, headers=elsewhere.headers)).status_code == 404
    assert (await client.get(url, headers=outsider_client.headers)).status_code == 404
    assert (await client.get(f"{url}/attachments", headers=elsewhere.headers)).status_code == 404
    # Officials cannot change an applicant's dossier through the draft routes.
    assert (await client.delete(url, headers=clerk.headers)).status_code == 409


async def test_desk_intake_links_existing_account_and_records_official(client, accounts, dossiers):
    code = await dossiers.procedure("000.00.12.H01", parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    response = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk",
        "applicant": {"citizen_id": citizen.citizen_id, "name": "Nguyễn Văn An"},
        "contact": {"phone": "0912345678"}, "submit": True})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "submitted" and body["code"].startswith("000.00.12.H01-")
    assert body["channel"] == "desk" and body["source"] == "desk"
    assert body["applicant"]["id"] == str(citizen.id) and body["applicant"]["citizen_id"] == citizen.citizen_id
    assert body["actor"]["id"] == str(clerk.id) and body["actor"]["kind"] == "official"
    assert body["contact"]["phone"] == "0912345678"
    assert body["delivery"]["method"] == "desk"
    # Registered and filed at once: the answer says what the clerk does next, as a read does.
    assert "receive" in body["next_actions"]
    assert body == (await client.get(f"/v1/dossiers/{body['id']}", headers=clerk.headers)).json()
    # The applicant sees the dossier registered for them.
    mine = await client.get("/v1/dossiers", headers=citizen.headers)
    assert [d["id"] for d in mine.json()["items"]] == [body["id"]]


async def test_postal_intake_without_account_as_draft_then_upload_and_submit(client, accounts, dossiers):
    code = await dossiers.procedure("000.00.12.H01")
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    colleague = await accounts.official("000.00.12.H01", ["reception"])
    response = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "post", "applicant": {"tax_code": "0100109106", "name": "Công ty A"},
        "delivery": {"method": "post", "address": "12 Nguyễn Du, Hà Tĩnh"}, "contact": {"email": "a@example.vn"}})
    assert response.status_code == 201, response.text
    draft = response.json()
    assert draft["state"] == "draft" and draft["applicant"]["id"] is None
    assert draft["applicant"]["kind"] == "organisation" and draft["channel"] == "post"
    # The registering official's draft is theirs only until it is submitted.
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers=colleague.headers)).status_code == 404
    missing = await dossiers.submit(client, clerk, draft["id"])
    assert missing.status_code == 422 and missing.json()["code"] == "documents_missing"
    assert (await dossiers.upload(client, clerk, draft["id"])).status_code == 201
    submitted = await dossiers.submit(client, clerk, draft["id"])
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers=colleague.headers)).status_code == 200


async def test_intake_needs_reception_at_the_procedures_agency(client, accounts, dossiers):
    code = await dossiers.procedure("000.00.12.H01", parts=OPTIONAL_PARTS)
    body = {"procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "B"}}
    approver = await accounts.official("000.00.12.H01", ["approval"])
    other_agency = await accounts.official("000.00.77.H01", ["reception"])
    citizen = await accounts.citizen()
    for actor in (approver, other_agency, citizen):
        response = await client.post("/v1/dossiers/intake", headers=actor.headers, json=body)
        assert response.status_code == 403, response.text
    both = {**body, "applicant": {"citizen_id": "001099012345", "tax_code": "0100109106", "name": "B"}}
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    assert (await client.post("/v1/dossiers/intake", headers=clerk.headers, json=both)).status_code == 422
    online = {**body, "channel": "online"}
    assert (await client.post("/v1/dossiers/intake", headers=clerk.headers, json=online)).status_code == 422

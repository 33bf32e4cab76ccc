"""Drafts, edits, submit, codes and the outbox (HTTP through the real app, real database)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.core.db import get_database
from app.core.outbox import OutboxEvent
from tests.support.dossier_fixtures import OPTIONAL_PARTS

FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "full_name": {"type": "string"},
        "birth_date": {"type": "string", "format": "date"},
        "quantity": {"type": "integer"},
        "weight": {"type": "number"},
        "purpose": {"enum": ["trade", "research"]},
    },
    "required": ["full_name", "purpose"],
}


async def test_create_draft_pins_published_version(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    response = await client.post("/v1/dossiers", headers=citizen.headers, json={
        "procedure_code": code, "channel": "online", "delivery": {"method": "post", "address": "1 Trần Phú, Hà Tĩnh"},
        "form": {}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/dossiers/{body['id']}"
    assert body["state"] == "draft" and body["national_status_code"] is None and body["code"] is None
    assert body["procedure_code"] == code and body["procedure_version"] == 1
    assert body["applicant"]["id"] == str(citizen.id) and body["applicant"]["kind"] == "citizen"
    assert body["actor"] is None and body["source"] == "online" and body["channel"] == "online"
    assert body["delivery"] == {"method": "post", "address": "1 Trần Phú, Hà Tĩnh"}
    got = await client.get(f"/v1/dossiers/{body['id']}", headers=citizen.headers)
    assert got.status_code == 200 and got.headers["etag"] == response.headers["etag"] == '"1"'
    # The answer is built from the row as written (no read back): it must be what a read gives, next_actions
    # included (a draft takes none: [], not the null of a list's items).
    assert got.json() == body and body["next_actions"] == []


async def test_create_refuses_unknown_procedure_wrong_channel_and_kind(client, accounts, dossiers):
    code = await dossiers.procedure(channels=("desk",), applicant_kinds=("organisation",))
    citizen = await accounts.citizen()
    unknown = await client.post("/v1/dossiers", headers=citizen.headers, json={"procedure_code": "9.999999.x"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "procedure_code"]
    wrong = await client.post("/v1/dossiers", headers=citizen.headers, json={"procedure_code": code})
    assert wrong.status_code == 422
    locs = [e["loc"] for e in wrong.json()["errors"]]
    assert ["body", "channel"] in locs and ["body", "procedure_code"] in locs


async def test_officials_cannot_file_online(client, accounts, dossiers):
    code = await dossiers.procedure()
    clerk = await accounts.official(roles=["reception"])
    response = await client.post("/v1/dossiers", headers=clerk.headers, json={"procedure_code": code})
    assert response.status_code == 403


async def test_form_is_validated_field_by_field(client, accounts, dossiers):
    code = await dossiers.procedure(form_schema=FORM_SCHEMA)
    citizen = await accounts.citizen()
    response = await client.post("/v1/dossiers", headers=citizen.headers, json={
        "procedure_code": code,
        "form": {"birth_date": "2024-13-01", "quantity": 1.5, "weight": "heavy", "purpose": "fun"}})
    assert response.status_code == 422
    failing = {tuple(e["loc"]) for e in response.json()["errors"]}
    # Each value given is checked; the missing `full_name` is not (yet): a draft may lack required fields.
    assert failing == {("body", "form", n) for n in ("birth_date", "quantity", "weight", "purpose")}
    ok = await client.post("/v1/dossiers", headers=citizen.headers, json={
        "procedure_code": code,
        "form": {"full_name": "An", "birth_date": "1990-01-02", "quantity": 3, "weight": 2.5, "purpose": "trade"}})
    assert ok.status_code == 201, ok.text


async def test_patch_needs_if_match_and_only_drafts(client, accounts, dossiers):
    code = await dossiers.procedure(form_schema=FORM_SCHEMA)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code, form={"full_name": "An", "purpose": "trade"})
    url = f"/v1/dossiers/{draft['id']}"
    assert (await client.patch(url, headers=citizen.headers, json={"form": {}})).status_code == 428
    stale = await client.patch(url, headers={**citizen.headers, "If-Match": '"7"'}, json={"form": {}})
    assert stale.status_code == 412
    bad = await client.patch(url, headers={**citizen.headers, "If-Match": '"1"'}, json={"form": {"purpose": "x"}})
    assert bad.status_code == 422
    good = await client.patch(url, headers={**citizen.headers, "If-Match": '"1"'},
                              json={"form": {"full_name": "Bình", "purpose": "research"}})
    assert good.status_code == 200, good.text
    assert good.json()["form"]["full_name"] == "Bình" and good.headers["etag"] == '"2"'
    assert good.json() == (await client.get(url, headers=citizen.headers)).json()
    assert (await dossiers.upload(client, citizen, draft["id"])).status_code == 201
    assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    after = await client.patch(url, headers={**citizen.headers, "If-Match": "*"}, json={"form": {}})
    assert after.status_code == 409 and after.json()["code"] == "dossier_not_draft"
    assert (await client.delete(url, headers=citizen.headers)).json()["code"] == "dossier_not_draft"


async def test_delete_draft(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert (await dossiers.upload(client, citizen, draft["id"])).status_code == 201
    url = f"/v1/dossiers/{draft['id']}"
    missing = await client.delete(url, headers=citizen.headers)  # a change, like PATCH: the ETag last read
    assert (missing.status_code, missing.json()["code"]) == (428, "precondition_required")
    stale = await client.delete(url, headers={**citizen.headers, "If-Match": '"0"'})
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    read = await client.get(url, headers=citizen.headers)
    assert (await client.delete(url, headers={**citizen.headers, "If-Match": read.headers["etag"]})).status_code == 204
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers=citizen.headers)).status_code == 404


async def test_submit_lists_every_missing_part_then_assigns_code(client, accounts, dossiers, monkeypatch):
    parts = [{"key": "form_a", "name": "Tờ khai", "required": True},
             {"key": "licence", "name": "Giấy phép", "required": True},
             {"key": "extra", "name": "Khác", "required": False}]
    code = await dossiers.procedure("000.00.12.H01", parts=parts)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    missing = await dossiers.submit(client, citizen, draft["id"])
    assert missing.status_code == 422 and missing.json()["code"] == "documents_missing"
    assert [e["loc"] for e in missing.json()["errors"]] == [["body", "attachments", "form_a"],
                                                            ["body", "attachments", "licence"]]
    for part in ("form_a", "licence"):
        assert (await dossiers.upload(client, citizen, draft["id"], part)).status_code == 201
    # 23:30 UTC on 23 Nov is 06:30 on 24 Nov in Hà Nội: the code carries the local date.
    from app.core import clock

    monkeypatch.setattr(clock, "now", lambda: datetime(2023, 11, 23, 23, 30, tzinfo=UTC))
    response = await dossiers.submit(client, citizen, draft["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "000.00.12.H01-231124-0001"
    assert body["state"] == "submitted" and body["national_status_code"] == 1
    assert body["submitted_at"].startswith("2023-11-23T23:30")
    again = await dossiers.submit(client, citizen, draft["id"])
    assert again.status_code == 409 and again.json()["code"] == "dossier_not_draft"
    async with get_database().read_sessions() as session:
        events = (await session.execute(select(OutboxEvent).where(
            OutboxEvent.event_type == "dossier.submitted"))).scalars().all()
    assert len(events) == 1 and events[0].payload["code"] == body["code"]


async def test_failed_submit_leaves_no_code_or_event(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 422
    async with get_database().read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == "dossier.submitted")) == 0
    assert (await dossiers.upload(client, citizen, draft["id"])).status_code == 201
    body = (await dossiers.submit(client, citizen, draft["id"])).json()
    assert body["code"].endswith("-0001")


async def test_procedure_without_required_parts_submits_at_once(client, accounts, dossiers):
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    response = await dossiers.submit(client, citizen, draft["id"])
    assert response.status_code == 200 and response.json()["code"]
    # What the applicant may do next (withdraw) is in the answer, as a read gives it.
    got = await client.get(f"/v1/dossiers/{draft['id']}", headers=citizen.headers)
    assert response.json() == got.json() and response.json()["next_actions"] == ["withdraw"]


async def test_representative_files_for_organisation(client, accounts, dossiers):
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    organisation = await accounts.organisation()
    rep = await accounts.citizen()
    stranger = await accounts.citizen()
    await accounts.representative(organisation, rep)
    on_behalf = {"X-On-Behalf-Of": str(organisation.id)}
    draft = await dossiers.draft(client, rep, code, headers=on_behalf)
    assert draft["applicant"]["id"] == str(organisation.id) and draft["applicant"]["kind"] == "organisation"
    assert draft["actor"]["id"] == str(rep.id)
    # The organisation itself sees it; the representative sees it when acting for the organisation.
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers=organisation.headers)).status_code == 200
    assert (await client.get(f"/v1/dossiers/{draft['id']}", headers={**rep.headers, **on_behalf})).status_code == 200
    denied = await client.post("/v1/dossiers", headers={**stranger.headers, **on_behalf},
                               json={"procedure_code": code})
    assert denied.status_code == 403 and denied.json()["code"] == "not_a_representative"
    submitted = await dossiers.submit(client, rep, draft["id"], headers=on_behalf)
    assert submitted.status_code == 200


async def test_submit_checks_an_if_match_when_one_is_sent(client, accounts, dossiers):
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    url = f"/v1/dossiers/{draft['id']}"
    edited = await client.patch(url, headers={**citizen.headers, "If-Match": '"1"'},
                                json={"delivery": {"method": "post", "address": "1 Trần Phú, Hà Tĩnh"}})
    assert edited.headers["etag"] == '"2"'
    # Read before the edit (another tab): not filed, and nothing of the submission written.
    stale = await client.post(f"{url}/submit", headers={**citizen.headers, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["etag"] == '"2"'
    got = (await client.get(url, headers=citizen.headers)).json()
    assert (got["state"], got["code"]) == ("draft", None)
    filed = await client.post(f"{url}/submit", headers={**citizen.headers, "If-Match": '"2"'})
    assert filed.status_code == 200 and filed.json()["state"] == "submitted"

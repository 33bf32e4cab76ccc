"""Dossier inputs at their edges, second pass: files whose content and name disagree, XML documents, and
conditional downloads of a stored file."""

from __future__ import annotations

from tests.support.dossier_fixtures import OPTIONAL_PARTS, PDF, PNG
from tests.support.edges import expect_problem

AGENCY = "000.00.12.H01"
XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<ketqua><so>123/GCN</so></ketqua>\n'


# --- application/xml is a type parts and results may accept; no file was ever sniffed as XML (always 415) ---

async def test_xml_is_recognised_by_its_declaration(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=[
        {"key": "data", "name": "Dữ liệu", "required": False, "media_types": ["application/xml"]}])
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    xml = await dossiers.upload(client, citizen, draft["id"], "data", b"\xef\xbb\xbf" + XML, "du_lieu.xml")
    assert xml.status_code == 201, xml.text
    assert xml.json()["media_type"] == "application/xml"
    # Markup without the declaration is not taken for XML (HTML would be too).
    html = await dossiers.upload(client, citizen, draft["id"], "data", b"<html><script>x</script></html>", "a.xml")
    assert html.status_code == 415 and html.json()["code"] == "media_type_not_allowed"


# --- the stored name's extension matches the checked content (a PDF named setup.exe or ho_so.hta) ---

async def test_file_name_extension_follows_the_content(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    names = {}
    for part, content, name in [("application_form", PDF, "setup.exe"), ("application_form", PDF, "ho_so.hta"),
                                ("application_form", PDF, "Don.PDF"), ("application_form", PDF, "don"),
                                ("id_copy", PNG, "anh.pdf")]:
        response = await dossiers.upload(client, citizen, draft["id"], part, content, name)
        assert response.status_code == 201, response.text
        names[name] = response.json()["file_name"]
    assert names == {"setup.exe": "setup.exe.pdf", "ho_so.hta": "ho_so.hta.pdf", "Don.PDF": "Don.PDF",
                     "don": "don", "anh.pdf": "anh.pdf.png"}


# --- a stored file never changes: If-None-Match with its ETag is 304, without sending it again ---

async def test_attachment_content_answers_304_to_its_etag(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    attachment = (await dossiers.upload(client, citizen, draft["id"])).json()
    url = f"/v1/dossiers/{draft['id']}/attachments/{attachment['id']}/content"
    first = await client.get(url, headers=citizen.headers)
    tag = first.headers["etag"]
    for condition in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = await client.get(url, headers={**citizen.headers, "If-None-Match": condition})
        assert again.status_code == 304, (condition, again.status_code)
        assert again.content == b"" and again.headers["etag"] == tag
    changed = await client.get(url, headers={**citizen.headers, "If-None-Match": '"other"'})
    assert changed.status_code == 200 and changed.content == PDF
    # The condition never opens the file to someone who may not see it.
    other = await accounts.citizen()
    hidden = await client.get(url, headers={**other.headers, "If-None-Match": "*"})
    assert hidden.status_code == 404


# --- control characters in names, addresses and filters: SQLite stored them, PostgreSQL refused naming no field ---

async def test_control_characters_are_refused_on_their_field(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    clerk = await accounts.official(AGENCY, ["reception"])
    online = await client.post("/v1/dossiers", headers=citizen.headers, json={
        "procedure_code": code, "delivery": {"method": "post", "address": "12 Trần Phú\u0000"}})
    desk = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "An\nB"}})
    listed = await client.get("/v1/dossiers?code=000.00.12.H01-260101-0001%00", headers=clerk.headers)
    for response, loc in [(online, ["body", "delivery", "address"]), (desk, ["body", "applicant", "name"]),
                          (listed, ["query", "code"])]:
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["errors"]] == [loc]
    # A postal address may take several lines.
    lines = await client.post("/v1/dossiers", headers=citizen.headers, json={
        "procedure_code": code, "delivery": {"method": "post", "address": "12 Trần Phú\nHà Tĩnh"}})
    assert lines.status_code == 201, lines.text


# --- the list's state filter: a state no dossier can be in answered an empty page, as if none matched ---

async def test_state_filter_names_a_dossier_state(client, accounts, dossiers):
    clerk = await accounts.official(AGENCY, ["reception"])
    for bogus in ("recieved", "Received", "2"):
        body = expect_problem(await client.get(f"/v1/dossiers?state={bogus}", headers=clerk.headers),
                              422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["query", "state"]]
    for state in ("draft", "received", "supplement_requested", "returned"):
        listed = await client.get(f"/v1/dossiers?state={state}", headers=clerk.headers)
        assert listed.status_code == 200, listed.text


# --- Idempotency-Key on the upload, a creating POST: a retried upload made a second attachment ---

async def test_upload_retried_with_its_idempotency_key_is_replayed(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    key = {"Idempotency-Key": "upload-1"}
    first = await dossiers.upload(client, citizen, draft["id"], headers=key)
    again = await dossiers.upload(client, citizen, draft["id"], headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    other = await dossiers.upload(client, citizen, draft["id"], content=PDF + b"%v2\n", headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert [a["id"] for a in listed.json()["items"]] == [first.json()["id"]]


# --- how many files a dossier holds: each upload was bounded by its size, their number by nothing ---

async def test_a_dossier_holds_at_most_the_configured_number_of_files(client, accounts, dossiers, monkeypatch):
    from app.core.settings import get_settings

    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    monkeypatch.setenv("DVC_MAX_ATTACHMENTS_PER_DOSSIER", "2")
    get_settings.cache_clear()
    try:
        kept = [await dossiers.upload(client, citizen, draft["id"], content=PDF + b"%" + bytes([48 + n]) + b"\n")
                for n in range(2)]
        assert [r.status_code for r in kept] == [201, 201]
        body = expect_problem(await dossiers.upload(client, citizen, draft["id"], content=PDF + b"%third\n"),
                              409, "attachment_limit_reached")
        assert body["extra"] == {"limit": 2}
        listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
        assert len(listed.json()["items"]) == 2  # nothing of the refused file was kept
        # Deleting one makes room again.
        first = kept[0].json()["id"]
        assert (await client.delete(f"/v1/dossiers/{draft['id']}/attachments/{first}",
                                    headers=citizen.headers)).status_code == 204
        assert (await dossiers.upload(client, citizen, draft["id"], content=PDF + b"%third\n")).status_code == 201
    finally:
        monkeypatch.delenv("DVC_MAX_ATTACHMENTS_PER_DOSSIER")
        get_settings.cache_clear()

"""Dossier inputs at their edges (issue 6, API-CONVENTIONS "4xx for any bad input"): forged cursors, dates at the
calendar's ends, NUL characters, odd multipart boundaries, values JSON cannot carry, forms nested too deep or too
long, bodies over the cap, identifiers in other digit systems, and who owns a desk draft."""

from __future__ import annotations

import json

import pytest

from app.core.jsondoc import MAX_JSON_DEPTH
from tests.support.catalogue_fixtures import procedure_body
from tests.support.dossier_fixtures import OPTIONAL_PARTS, PDF
from tests.support.edges import forged_cursor

AGENCY = "000.00.12.H01"


# --- forged cursors are 422 (API-CONVENTIONS: "4xx for any bad input") ---

@pytest.mark.parametrize("values", [
    [{"t": "2024-01-01T00:00:00+00:00"}, {"u": 123}],  # non-string uuid: AttributeError
    [{"t": "2024-01-01T00:00:00"}, {"u": "00000000-0000-0000-0000-000000000001"}],  # naive datetime
    [{"t": "0001-01-01T00:00:00+07:00"}, {"u": "00000000-0000-0000-0000-000000000001"}],  # OverflowError
    [None, None],  # NULL keys: SQLAlchemy ArgumentError
], ids=["uuid_not_string", "naive_datetime", "datetime_out_of_range", "nulls"])
async def test_forged_cursor_is_422(client, accounts, values):
    citizen = await accounts.citizen()
    response = await client.get(f"/v1/dossiers?cursor={forged_cursor(values)}", headers=citizen.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


# --- date filters at the calendar's ends bound nothing ---

@pytest.mark.parametrize("query", ["submitted_to=9999-12-31", "submitted_from=0001-01-01"])
async def test_extreme_submitted_dates_are_answered(client, accounts, query):
    clerk = await accounts.official(AGENCY, ["reception"])
    response = await client.get(f"/v1/dossiers?{query}", headers=clerk.headers)
    assert response.status_code in (200, 422), response.text


async def test_a_submitted_range_ending_before_it_starts_is_refused(client, accounts):
    # It matched nothing, silently; the reports refuse the same mistake (422 on the range's end).
    clerk = await accounts.official(AGENCY, ["reception"])
    response = await client.get("/v1/dossiers?submitted_from=2026-03-02&submitted_to=2026-03-01",
                                headers=clerk.headers)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "submitted_to"]]
    same_day = await client.get("/v1/dossiers?submitted_from=2026-03-02&submitted_to=2026-03-02",
                                headers=clerk.headers)
    assert same_day.status_code == 200, same_day.text


# --- public tracking: a NUL in the code is an unknown code ---

async def test_public_tracking_nul_code_is_not_found(client, database_url):
    response = await client.get("/v1/public/dossiers/abc%00def")
    assert response.status_code in (404, 422), response.text


# --- a multipart boundary longer than the parser takes is malformed input ---

async def test_overlong_multipart_boundary_is_422(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    boundary = "x" * 300
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"part\"\r\n\r\napplication_form\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n").encode() \
        + PDF + f"\r\n--{boundary}--\r\n".encode()
    response = await client.post(f"/v1/dossiers/{draft['id']}/attachments", content=body, headers={
        **citizen.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 422, response.text


# --- form values JSON cannot carry (NaN, Infinity, lone surrogates) are refused on both databases ---

NUMBER_SCHEMA = {"type": "object", "properties": {"weight": {"type": "number", "minimum": 1}},
                 "required": ["weight"]}


@pytest.mark.parametrize(("schema", "raw_value"), [
    (NUMBER_SCHEMA, "NaN"), (NUMBER_SCHEMA, "Infinity"), (None, '"\\ud800"'),
    (None, '"a\\u0000b"'),  # PostgreSQL's jsonb refuses NUL (a 422 naming no field), SQLite stored it
], ids=["nan", "infinity", "lone_surrogate", "nul"])
async def test_form_with_non_json_values_is_refused(client, accounts, dossiers, schema, raw_value):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS, form_schema=schema)
    citizen = await accounts.citizen()
    raw = f'{{"procedure_code": "{code}", "form": {{"weight": {raw_value}}}}}'
    response = await client.post("/v1/dossiers", content=raw.encode(),
                                 headers={**citizen.headers, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "form"]]


# --- free JSON is bounded: a form nested 900 deep validated, then failed serialisation (500); 5 MB forms passed ---

def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(("form", "status"), [
    (_nested(MAX_JSON_DEPTH), 201),  # the form itself is the outermost of the levels
    (_nested(MAX_JSON_DEPTH + 1), 422),
    (_nested(900), 422),
    ('{"note": "' + "x" * (256 * 1024) + '"}', 422),  # DVC_MAX_FORM_BYTES
], ids=["deepest_allowed", "one_too_deep", "900_deep", "too_long"])
async def test_form_depth_and_size_are_bounded(client, accounts, dossiers, form, status):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    response = await client.post("/v1/dossiers", content=f'{{"procedure_code": "{code}", "form": {form}}}'.encode(),
                                 headers={**citizen.headers, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if status == 422:
        # 900 levels are near the interpreter's recursion limit, which json.loads counts from the caller's depth:
        # whether the body parses, and the form's depth is refused, or the body is refused whole depends on how
        # deep the stack already is (the middleware and the test runner's own frames). Either is the same 422.
        allowed = ([["body", "form"]], [["body"]]) if form == _nested(900) else ([["body", "form"]],)
        assert [e["loc"] for e in response.json()["errors"]] in allowed
        assert (await client.get("/v1/dossiers", headers=citizen.headers)).json()["items"] == []


async def test_a_version_form_schema_is_bounded_too(client, accounts, catalogue):
    await catalogue.agency("A1")
    await catalogue.field("F1", agency_code="A1")
    editor = await accounts.official("A1", ("agency_admin",))
    deep = json.loads(_nested(100))
    schema = {"type": "object", "properties": {"kind": {"enum": [deep]}}}
    response = await client.post("/v1/procedures", json=procedure_body("DEEP-1", form_schema=schema),
                                 headers=editor.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "form_schema"]


async def test_bodies_over_the_cap_are_413_declared_or_chunked(client, accounts, monkeypatch):
    import app.core.settings as settings_module

    capped = settings_module.get_settings().model_copy(update={"max_body_bytes": 4096})
    monkeypatch.setattr(settings_module, "get_settings", lambda: capped)
    citizen = await accounts.citizen()
    body = json.dumps({"procedure_code": "X", "form": {"note": "x" * 5000}}).encode()

    async def chunks():  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    for content in (body, chunks()):
        response = await client.post("/v1/dossiers", content=content,
                                     headers={**citizen.headers, "Content-Type": "application/json"})
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
        assert response.headers["content-type"].startswith("application/problem+json")
    small = await client.post("/v1/dossiers", json={"procedure_code": "NOPE"}, headers=citizen.headers)
    assert small.status_code == 422, small.text  # under the cap, the request is read and answered as usual


# --- a desk/post draft belongs to the registering official until submitted, even when the applicant has an account ---

async def test_linked_applicant_cannot_take_over_a_desk_draft(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    clerk = await accounts.official(AGENCY, ["reception"])
    intake = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk",
        "applicant": {"citizen_id": citizen.citizen_id, "name": "Nguyễn Văn An"}})
    assert intake.status_code == 201, intake.text
    url = f"/v1/dossiers/{intake.json()['id']}"
    # "Drafts are private to whoever is filling them" (app/dossiers/access.py): the official is filling it.
    assert (await client.get(url, headers=citizen.headers)).status_code == 404
    assert (await dossiers.upload(client, citizen, intake.json()["id"])).status_code == 404
    assert (await dossiers.submit(client, citizen, intake.json()["id"])).status_code == 404
    assert (await client.delete(url, headers=citizen.headers)).status_code == 404
    assert (await client.get(url, headers=clerk.headers)).json()["state"] == "draft"


# --- identifiers take ASCII digits only; form dates only YYYY-MM-DD ---

async def test_intake_refuses_non_ascii_digits_in_cccd(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    clerk = await accounts.official(AGENCY, ["reception"])
    for citizen_id in ("00109901234\uff15", "\u0660" * 12):  # fullwidth 5; Arabic-Indic zeros
        response = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
            "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": citizen_id, "name": "B"}})
        assert response.status_code == 422, response.text


async def test_intake_contact_phone_fits_its_column(client, accounts, dossiers):
    # The pattern allowed 21 characters ("+" and 20) for a String(20) column: PostgreSQL refused the row.
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    clerk = await accounts.official(AGENCY, ["reception"])
    response = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "B"},
        "contact": {"phone": "+" + "8" * 20}})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "contact", "phone"]


async def test_form_date_field_refuses_iso_week_date(client, accounts, dossiers):
    schema = {"type": "object", "properties": {"birth_date": {"type": "string", "format": "date"}}}
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS, form_schema=schema)
    citizen = await accounts.citizen()
    response = await client.post("/v1/dossiers", headers=citizen.headers,
                                 json={"procedure_code": code, "form": {"birth_date": "2024-W01-1"}})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "form", "birth_date"]


# --- an intake draft stays desk or post (intake refuses `online`) ---

async def test_patch_cannot_turn_intake_draft_online(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    clerk = await accounts.official(AGENCY, ["reception"])
    intake = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "B"}})
    assert intake.status_code == 201, intake.text
    response = await client.patch(f"/v1/dossiers/{intake.json()['id']}", headers={**clerk.headers, "If-Match": "*"},
                                  json={"channel": "online"})
    assert response.status_code == 422, response.text


# --- form values mean what they mean in JSON: true is not 1, a blank string fills no required field ---

async def test_form_enum_and_required_fields_take_json_meanings(client, accounts, dossiers):
    schema = {"type": "object", "required": ["name"],
              "properties": {"married": {"enum": [0, 1]}, "name": {"type": "string"}}}
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS, form_schema=schema)
    citizen = await accounts.citizen()
    refused = await client.post("/v1/dossiers", headers=citizen.headers,
                                json={"procedure_code": code, "form": {"married": True, "name": "   "}})
    assert refused.status_code == 422, refused.text
    # A draft may lack required fields (checked at submit), so only the value given wrong is refused here.
    assert {tuple(e["loc"]) for e in refused.json()["errors"]} == {("body", "form", "married")}
    blank = await client.post("/v1/dossiers", headers=citizen.headers,
                              json={"procedure_code": code, "form": {"married": 1, "name": "   "}})
    assert blank.status_code == 201, blank.text
    unfilled = await dossiers.submit(client, citizen, blank.json()["id"])  # a blank fills nothing
    assert unfilled.status_code == 422, unfilled.text
    assert [e["loc"] for e in unfilled.json()["errors"]] == [["body", "form", "name"]]
    accepted = await client.post("/v1/dossiers", headers=citizen.headers,
                                 json={"procedure_code": code, "form": {"married": 1, "name": "An"}})
    assert accepted.status_code == 201, accepted.text

"""Session 11 audit: a delivery PATCH keeps what it leaves out, online delivery needs the applicant's account,
and only the streamed upload route escapes the request body cap with a multipart body."""

from __future__ import annotations

import pytest

from tests.support.dossier_fixtures import OPTIONAL_PARTS, PDF

AGENCY = "000.00.12.H01"
BOUNDARY = "audit11boundaryQx7"
POSTAL = {"method": "post", "address": "1 Trần Phú"}


async def _patch(client, actor, dossier_id, body):
    return await client.patch(f"/v1/dossiers/{dossier_id}", headers={**actor.headers, "If-Match": "*"}, json=body)


def _delivery_errors(response):
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return [(e["loc"], e["type"]) for e in response.json()["errors"]]


# --- 1. PATCH of a draft's delivery: fields left out stay as they are ---

async def test_patch_delivery_address_keeps_the_stored_method(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code, delivery=POSTAL)
    response = await _patch(client, citizen, draft["id"], {"delivery": {"address": "2 Lê Lợi"}})
    assert response.status_code == 200, response.text
    assert response.json()["delivery"] == {"method": "post", "address": "2 Lê Lợi"}


async def test_patch_delivery_method_keeps_or_drops_the_stored_address(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code, delivery=POSTAL)
    kept = await _patch(client, citizen, draft["id"], {"delivery": {"method": "post"}, "form": {"a": 1}})
    assert kept.status_code == 200 and kept.json()["delivery"] == POSTAL
    untouched = await _patch(client, citizen, draft["id"], {"form": {"a": 2}})
    assert untouched.status_code == 200 and untouched.json()["delivery"] == POSTAL
    # Leaving post without an address drops the postal one (notices would print it beside the new method).
    desk = await _patch(client, citizen, draft["id"], {"delivery": {"method": "desk"}})
    assert desk.status_code == 200 and desk.json()["delivery"] == {"method": "desk", "address": None}


async def test_patch_to_post_without_any_address_is_422_on_the_address(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert draft["delivery"] == {"method": "online", "address": None}  # create's default is unchanged
    refused = await _patch(client, citizen, draft["id"], {"delivery": {"method": "post"}})
    assert _delivery_errors(refused) == [(["body", "delivery", "address"], "postal_address_missing")]
    postal = await dossiers.draft(client, citizen, code, delivery=POSTAL)
    cleared = await _patch(client, citizen, postal["id"], {"delivery": {"address": None}})
    assert _delivery_errors(cleared) == [(["body", "delivery", "address"], "postal_address_missing")]
    # Create answers the same rule the same way.
    created = await client.post("/v1/dossiers", headers=citizen.headers,
                                json={"procedure_code": code, "delivery": {"method": "post"}})
    assert _delivery_errors(created) == [(["body", "delivery", "address"], "postal_address_missing")]
    after = await client.get(f"/v1/dossiers/{postal['id']}", headers=citizen.headers)
    assert after.json()["delivery"] == POSTAL and after.headers["etag"] == '"1"'


async def test_create_schema_still_defaults_delivery_to_online(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["Delivery"]["properties"]["method"]["default"] == "online"
    assert "default" not in schemas["DeliveryPatch"]["properties"]["method"]


# --- 2. online delivery needs the applicant's registered account ---

async def test_intake_refuses_online_delivery_without_an_account(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    clerk = await accounts.official(AGENCY, ["reception"])
    body = {"procedure_code": code, "channel": "desk", "delivery": {"method": "online"},
            "applicant": {"citizen_id": "001099012345", "name": "B"}}
    refused = await client.post("/v1/dossiers/intake", headers=clerk.headers, json=body)
    assert _delivery_errors(refused) == [(["body", "delivery", "method"], "online_delivery_needs_account")]
    citizen = await accounts.citizen()
    linked = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        **body, "applicant": {"citizen_id": citizen.citizen_id, "name": "An"}})
    assert linked.status_code == 201, linked.text
    assert linked.json()["delivery"]["method"] == "online" and linked.json()["applicant"]["id"] == str(citizen.id)


async def test_patch_of_intake_draft_refuses_online_delivery_without_an_account(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    clerk = await accounts.official(AGENCY, ["reception"])
    intake = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "post", "delivery": POSTAL,
        "applicant": {"tax_code": "0100109106", "name": "Công ty A"}})
    assert intake.status_code == 201 and intake.json()["applicant"]["id"] is None
    refused = await _patch(client, clerk, intake.json()["id"], {"delivery": {"method": "online"}})
    assert _delivery_errors(refused) == [(["body", "delivery", "method"], "online_delivery_needs_account")]
    after = await client.get(f"/v1/dossiers/{intake.json()['id']}", headers=clerk.headers)
    assert after.json()["delivery"] == POSTAL


# --- 3. the body cap exempts multipart bodies only on the streamed upload route ---

@pytest.fixture
def small_body_cap(monkeypatch):
    import app.core.settings as settings_module

    capped = settings_module.get_settings().model_copy(update={"max_body_bytes": 4096})
    monkeypatch.setattr(settings_module, "get_settings", lambda: capped)
    return capped.max_body_bytes


def _multipart(size: int) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + b"x" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("token", [True, False], ids=["with_token", "without_token"])
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_multipart_body_over_the_cap_to_a_json_route_is_413(client, accounts, small_body_cap, token, chunked):
    body = _multipart(2 * small_body_cap)

    async def chunks():  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 1024):
            yield body[start:start + 1024]

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if token:
        headers.update((await accounts.citizen()).headers)
    response = await client.post("/v1/dossiers", content=chunks() if chunked else body, headers=headers)
    # A declared length over the cap is refused before routing; a chunked one reaches the route, which refuses a
    # body not declared JSON before reading any of it (415, app.core.routing): either way nothing is parsed.
    expected = (415, "media_type_not_allowed") if chunked else (413, "payload_too_large")
    assert (response.status_code, response.json()["code"]) == expected, response.text


async def test_upload_over_the_body_cap_within_the_part_limit_succeeds(client, accounts, dossiers, small_body_cap):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    content = PDF + b"%" * (4 * small_body_cap)
    response = await dossiers.upload(client, citizen, draft["id"], "application_form", content)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(content)


async def test_streamed_multipart_routes_are_routes_of_the_app(app):
    from fastapi.routing import APIRoute

    from app.core.request_context import streamed_multipart_routes

    declared = {(method, route.path) for route in app.routes if isinstance(route, APIRoute)
                for method in route.methods}
    assert streamed_multipart_routes() == {("POST", "/v1/dossiers/{dossier_id}/attachments")}
    assert streamed_multipart_routes() <= declared

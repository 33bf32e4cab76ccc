"""Integer form fields take a JSON number with a zero fraction (JSON Schema: 234.0 is an integer) and store it
as an integer; a fraction is still refused."""

from __future__ import annotations

from typing import Any

import pytest

from app.catalogue.form_schema import check_form_schema
from app.dossiers.formcheck import form_errors, normalised_form

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"so_ban": {"type": "integer", "minimum": 1, "maximum": 1000}, "weight": {"type": "number"},
                   "level": {"enum": [1, 2, 3]}, "name": {"type": "string"}},
    "required": ["so_ban"],
}


def test_zero_fraction_is_an_integer_and_is_stored_as_one() -> None:
    assert form_errors(SCHEMA, {"so_ban": 234.0}) == []
    form = normalised_form(SCHEMA, {"so_ban": 234.0, "weight": 2.0, "level": 2.0, "name": "An"})
    assert form == {"so_ban": 234, "weight": 2.0, "level": 2, "name": "An"}
    assert type(form["so_ban"]) is int and type(form["level"]) is int
    assert type(form["weight"]) is float  # a number field keeps what was sent
    assert [e["loc"] for e in form_errors(SCHEMA, {"so_ban": 234.5})] == [["body", "form", "so_ban"]]
    # Beyond 2**53 a float no longer names one integer: left as sent (still an integer to JSON Schema).
    assert type(normalised_form(SCHEMA, {"so_ban": 1e300})["so_ban"]) is float


async def test_http_create_patch_and_submit_store_integers(client, accounts, dossiers) -> None:
    code = await dossiers.procedure(form_schema=SCHEMA)
    citizen = await accounts.citizen()
    created = await client.post("/v1/dossiers", headers=citizen.headers,
                                json={"procedure_code": code, "form": {"so_ban": 234.0}})
    assert created.status_code == 201, created.text
    assert created.json()["form"] == {"so_ban": 234} and '"so_ban":234}' in created.text
    did = created.json()["id"]
    read = await client.get(f"/v1/dossiers/{did}", headers=citizen.headers)
    assert '"so_ban":234}' in read.text
    fraction = await client.patch(f"/v1/dossiers/{did}", headers={**citizen.headers, "If-Match": read.headers["etag"]},
                                  json={"form": {"so_ban": 234.5}})
    assert fraction.status_code == 422 and fraction.json()["errors"][0]["loc"] == ["body", "form", "so_ban"]
    patched = await client.patch(f"/v1/dossiers/{did}", headers={**citizen.headers, "If-Match": read.headers["etag"]},
                                 json={"form": {"so_ban": 7.0, "level": 3.0}})
    assert patched.status_code == 200, patched.text
    assert '"so_ban":7' in patched.text and '"so_ban":7.0' not in patched.text and '"level":3' in patched.text
    for part in ("application_form", "id_copy"):
        assert (await dossiers.upload(client, citizen, did, part)).status_code == 201
    submitted = await dossiers.submit(client, citizen, did)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["form"] == {"so_ban": 7, "level": 3}


async def test_desk_intake_stores_integers(client, accounts, dossiers) -> None:
    code = await dossiers.procedure(form_schema=SCHEMA, channels=("online", "desk"))
    clerk = await accounts.official(roles=["reception"])
    response = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "B"},
        "delivery": {"method": "desk"}, "form": {"so_ban": 12.0}})
    assert response.status_code == 201, response.text
    assert '"so_ban":12}' in response.text


def test_a_form_schema_length_bound_with_a_zero_fraction_is_an_integer() -> None:
    schema = check_form_schema({"type": "object", "properties": {"c": {"type": "string", "maxLength": 9.0}}})
    assert schema is not None and type(schema["properties"]["c"]["maxLength"]) is int
    with pytest.raises(ValueError, match="non-negative integer"):
        check_form_schema({"type": "object", "properties": {"c": {"type": "string", "maxLength": 9.5}}})

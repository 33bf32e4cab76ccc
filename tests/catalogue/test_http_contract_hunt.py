"""A creation's `Location` names the resource it created, and that route answers 200 (API-CONVENTIONS: "Creation
answers 201 with the resource and a `Location` header"; RFC 9110 §15.3.2)."""

from __future__ import annotations

import httpx

from tests.support.catalogue_fixtures import Catalogue, procedure_body
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import Accounts


async def _location_answers_the_created(client: httpx.AsyncClient, created: httpx.Response,
                                        headers: dict[str, str]) -> None:
    assert created.status_code == 201, created.text
    read = await client.get(created.headers["location"], headers=headers)
    assert read.status_code == 200, (created.headers["location"], read.text)
    # the same resource (a dossier's 201 leaves its workflow fields null, as lists do: compared apart from them)
    workflow = {"next_actions"}
    assert ({k: v for k, v in read.json().items() if k not in workflow}
            == {k: v for k, v in created.json().items() if k not in workflow}), created.headers["location"]


async def test_a_field_location_names_the_field(client: httpx.AsyncClient, accounts: Accounts,
                                                catalogue: Catalogue) -> None:
    # It was `/v1/fields?agency=`: a list filtered by an empty agency, where a field of no agency never is.
    admin = await accounts.admin()
    await catalogue.agency("A1")
    for body in ({"code": "LOC-F1", "name": "Hộ tịch"}, {"code": "LOC-F2", "name": "Đất đai", "agency_code": "A1"}):
        created = await client.post("/v1/fields", json=body, headers=admin.headers)
        assert created.headers["location"] == f"/v1/fields/{body['code']}"
        await _location_answers_the_created(client, created, {})
    missing = await client.get("/v1/fields/LOC-NONE")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_every_creation_location_answers_the_created_resource(client: httpx.AsyncClient, accounts: Accounts,
                                                                    catalogue: Catalogue,
                                                                    dossiers: Dossiers) -> None:
    admin = await accounts.admin()
    await catalogue.agency("A1")
    await catalogue.field("F1")
    creations = [
        ("/v1/agencies", {"code": "LOC-A", "name": "Sở Tư pháp", "level": "department"}),
        ("/v1/procedures", procedure_body("LOC-P")),
        ("/v1/officials", {"issuer": "https://idp.test", "subject": "loc-1", "name": "Lê Văn Hai",
                           "email": "hai@agency.gov.vn", "agency_code": "A1", "roles": ["reception"]}),
        ("/v1/clients", {"client_id": "loc-client", "name": "Cổng thử", "scopes": ["dossiers:read"],
                         "agency_codes": ["A1"]}),
    ]
    for path, body in creations:
        await _location_answers_the_created(client, await client.post(path, json=body, headers=admin.headers),
                                            admin.headers)
    citizen = await accounts.citizen()
    code = await dossiers.procedure()
    await _location_answers_the_created(client, await client.post(
        "/v1/dossiers", json={"procedure_code": code, "form": {}}, headers=citizen.headers), citizen.headers)

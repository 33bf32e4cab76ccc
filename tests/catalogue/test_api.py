"""The catalogue over HTTP: public reads, editor permissions, problems with field paths."""

from __future__ import annotations

import copy

from app.catalogue.sample import load_sample, sample_document
from tests.support.catalogue_fixtures import Catalogue, procedure_body

DEPT = "000.00.12.H23"


async def test_public_reads_need_no_token(client, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    await load_sample()
    agencies = (await client.get("/v1/agencies")).json()
    assert [a["code"] for a in agencies["items"]] == ["000.00.00.H23", DEPT]
    assert (await client.get(f"/v1/agencies/{DEPT}")).json()["level"] == "department"
    fields = (await client.get("/v1/fields", params={"agency": DEPT})).json()["items"]
    assert len(fields) == 3
    found = (await client.get("/v1/procedures", params={"q": "khai bao thiet bi x quang"})).json()
    first = found["items"][0]
    assert first["name"] == "Khai báo thiết bị X-quang chẩn đoán trong y tế"
    assert set(first) >= {"code", "name", "agency_code", "field_code", "online_level", "applicant_kinds",
                          "channels", "processing_days", "clock_on_supplement", "document_parts", "fee_items",
                          "result", "workflow", "form_schema", "version", "status", "valid_from", "valid_to"}
    assert set(first["document_parts"][0]) >= {"key", "name", "required", "media_types", "max_bytes",
                                               "original_at_desk"}
    page = (await client.get("/v1/procedures", params={"limit": 5})).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    assert (await client.get("/v1/agencies/NOPE")).status_code == 404


async def test_procedure_detail_has_an_etag_that_follows_the_version(client, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    code = await catalogue.procedure("API-ETAG")
    first = await client.get(f"/v1/procedures/{code}")
    assert first.status_code == 200 and first.json()["version"] == 1
    assert first.headers["etag"] == (await client.get(f"/v1/procedures/{code}")).headers["etag"]
    from app.catalogue import versions
    from app.core.db import get_database
    from tests.support.catalogue_fixtures import ADMIN

    draft = await catalogue.draft(code, processing_days=2)
    async with get_database().write_sessions() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, if_match="*")
    second = await client.get(f"/v1/procedures/{code}")
    assert second.json()["version"] == 2 and second.headers["etag"] != first.headers["etag"]
    history = (await client.get(f"/v1/procedures/{code}/versions")).json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [(1, "retired"), (2, "published")]
    assert (await client.get("/v1/procedures/NOPE")).status_code == 404


async def test_editor_flow_over_http(client, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    await catalogue.agency("A1")
    await catalogue.field("F1", agency_code="A1")
    editor = await accounts.official("A1", ("agency_admin",))
    created = await client.post("/v1/procedures", json=procedure_body("API-FLOW"), headers=editor.headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/procedures/API-FLOW/versions/1"
    assert created.json()["status"] == "draft"
    assert (await client.get("/v1/procedures/API-FLOW")).status_code == 404  # not in force yet
    seen = await client.get("/v1/procedures/API-FLOW/versions/1", headers=editor.headers)
    assert seen.json()["status"] == "draft"
    patched = await client.patch("/v1/procedures/API-FLOW/versions/1", json={"processing_days": 5},
                                 headers={**editor.headers, "If-Match": seen.headers["etag"]})
    assert patched.json()["processing_days"] == 5
    published = await client.post("/v1/procedures/API-FLOW/versions/1/publish",
                                  headers={**editor.headers, "If-Match": patched.headers["etag"]})
    assert published.status_code == 200 and published.json()["status"] == "published"
    refused = await client.patch("/v1/procedures/API-FLOW/versions/1", json={"processing_days": 6},
                                 headers={**editor.headers, "If-Match": published.headers["etag"]})
    assert refused.status_code == 409 and refused.json()["code"] == "version_published"
    draft = await client.post("/v1/procedures/API-FLOW/versions", headers=editor.headers)
    assert draft.status_code == 201 and draft.json()["version"] == 2 and draft.json()["processing_days"] == 5
    retired = await client.post("/v1/procedures/API-FLOW/versions/1/retire", json={},
                                headers={**editor.headers, "If-Match": published.headers["etag"]})
    assert retired.json()["status"] == "retired"
    assert (await client.get("/v1/procedures/API-FLOW")).status_code == 404


async def test_who_may_edit(client, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    await catalogue.agency("A1")
    await catalogue.agency("A2")
    await catalogue.field("F1")
    other_admin = await accounts.official("A2", ("agency_admin",))
    reception = await accounts.official("A1", ("reception",))
    citizen = await accounts.citizen()
    client_ok = await accounts.client(("catalogue:write",), ("A1",))
    client_no_scope = await accounts.client(("dossiers:read",), ("A1",))
    body = procedure_body("API-WHO")
    assert (await client.post("/v1/procedures", json=body)).status_code == 401
    for actor, code in ((other_admin, "forbidden_role"), (reception, "forbidden_role"),
                        (citizen, "forbidden_role"), (client_no_scope, "scope_missing")):
        answer = await client.post("/v1/procedures", json=body, headers=actor.headers)
        assert (answer.status_code, answer.json()["code"]) == (403, code), actor
    assert (await client.post("/v1/procedures", json=body, headers=client_ok.headers)).status_code == 201
    renamed = await client.patch("/v1/agencies/A2", json={"name": "Sở mới"},
                                 headers={**other_admin.headers, "If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Sở mới"
    denied = await client.patch("/v1/agencies/A1", json={"name": "Sở khác"},
                                headers={**other_admin.headers, "If-Match": '"1"'})
    assert denied.status_code == 403
    admin = await accounts.admin()
    made = await client.post("/v1/agencies", json={"code": "A3", "name": "Xã Thạch Hà", "level": "commune",
                                                   "parent_code": "A1"}, headers=admin.headers)
    assert made.status_code == 201 and made.headers["location"] == "/v1/agencies/A3"
    field = await client.post("/v1/fields", json={"code": "F3", "name": "Hộ tịch", "agency_code": "A3"},
                              headers=admin.headers)
    assert field.status_code == 201


async def test_bad_input_is_422_with_the_field_path(client, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    await catalogue.procedure("API-DUP")
    admin = await accounts.admin()
    cases = [
        ({"agency_code": "NOPE"}, ["body", "agency_code"]),
        ({"field_code": "NOPE"}, ["body", "field_code"]),
        ({"code": "API-DUP"}, ["body", "code"]),
        ({"fee_items": [{"kind": "fee", "name": "x", "amount": -1}]}, ["body", "fee_items", 0, "amount"]),
        ({"fee_items": [{"kind": "fee", "name": "x", "amount": 1.5}]}, ["body", "fee_items", 0, "amount"]),
        ({"fee_items": [{"kind": "fee", "name": "x", "amount": "100"}]}, ["body", "fee_items", 0, "amount"]),
        ({"processing_days": 0}, ["body", "processing_days"]),
        ({"document_parts": [{"key": "a", "name": "A", "media_types": ["text/x-evil"]}]},
         ["body", "document_parts", 0, "media_types"]),
    ]
    for override, loc in cases:
        body = {**procedure_body("API-BAD"), **override}
        answer = await client.post("/v1/procedures", json=body, headers=admin.headers)
        assert answer.status_code == 422, (override, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert loc in [e["loc"] for e in answer.json()["errors"]], (override, answer.json())
    assert (await client.get("/v1/procedures/API-BAD/versions")).status_code == 404  # nothing half-written
    created = await client.post("/v1/procedures", json=procedure_body("API-EMPTY", document_parts=[]),
                                headers=admin.headers)
    publish = await client.post("/v1/procedures/API-EMPTY/versions/1/publish",
                                headers={**admin.headers, "If-Match": created.headers["etag"]})
    assert created.status_code == 201 and publish.status_code == 422


async def test_import_over_http_reports_pointers_and_is_idempotent(client, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    doc = copy.deepcopy(sample_document())
    doc["procedures"][3]["fee_items"] = [{"kind": "fee", "name": "x", "amount": -1}]
    doc["procedures"][9]["agency_code"] = "NOPE"
    refused = await client.post("/v1/catalogue/import", json=doc, headers=admin.headers)
    assert refused.status_code == 422
    assert "/procedures/3/fee_items/0/amount" in [e["pointer"] for e in refused.json()["errors"]]
    assert (await client.get("/v1/agencies")).json()["items"] == []
    first = await client.post("/v1/catalogue/import", json=sample_document(), headers=admin.headers)
    again = await client.post("/v1/catalogue/import", json=sample_document(), headers=admin.headers)
    assert first.json()["procedures_created"] == 19
    assert again.json() | {"unchanged": 0} == {k: 0 for k in again.json()} and again.json()["unchanged"] == 19
    assert (await client.get("/v1/catalogue/export")).status_code == 401
    exported = (await client.get("/v1/catalogue/export", headers=admin.headers)).json()
    assert exported["procedures"] == sample_document()["procedures"]
    assert (await client.post("/v1/catalogue/import", content=b"{", headers=admin.headers)).status_code == 422


async def test_an_agency_moves_in_the_hierarchy_only_with_both_parents_rights(  # type: ignore[no-untyped-def]
        client, accounts, catalogue: Catalogue) -> None:
    """The hierarchy decides whose reports cover an agency: its own admin (or catalogue client) must not take it
    out from under its parent, nor put it under another agency, by PATCH or by import."""
    await catalogue.agency("P1")
    await catalogue.agency("P2")
    await catalogue.agency("C1", parent_code="P1")
    own_admin = await accounts.official("C1", ("agency_admin",))
    own_client = await accounts.client(("catalogue:write",), ("C1",))
    parent_admin = await accounts.official("P1", ("agency_admin",))
    url = "/v1/agencies/C1"
    for editor in (own_admin, own_client, parent_admin):
        for parent in (None, "P2"):
            moved = await client.patch(url, json={"parent_code": parent}, headers={**editor.headers, "If-Match": "*"})
            assert (moved.status_code, moved.json()["code"]) == (403, "forbidden_role"), (editor, parent)
    doc = {"agencies": [{"code": "C1", "name": "Sở thử nghiệm C1", "level": "department", "parent_code": None}]}
    imported = await client.post("/v1/catalogue/import", json=doc, headers=own_client.headers)
    assert (imported.status_code, imported.json()["code"]) == (403, "forbidden_role")
    # Nothing moved; renaming is still the agency's own business; the same parent is no move.
    assert (await client.get(url)).json()["parent_code"] == "P1"
    renamed = await client.patch(url, json={"name": "Sở mới", "parent_code": "P1"},
                                 headers={**own_admin.headers, "If-Match": "*"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Sở mới"
    admin = await accounts.admin()
    moved = await client.patch(url, json={"parent_code": "P2"}, headers={**admin.headers, "If-Match": "*"})
    assert moved.status_code == 200 and moved.json()["parent_code"] == "P2"

"""HTTP semantics every route shares (RFC 9110, API-CONVENTIONS.md): 405 and its Allow header, conditional GET,
and the media type of a JSON body. Found in the HTTP-contract hunt; each test names what was answered before."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.support.catalogue_fixtures import Catalogue
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import Accounts

PROBLEM = "application/problem+json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allow(response: httpx.Response) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")}


def _assert_405(response: httpx.Response, allowed: set[str]) -> None:
    assert response.status_code == 405, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "method_not_allowed"
    assert _allow(response) == allowed


async def test_a_405_names_every_method_of_the_resource(client: httpx.AsyncClient) -> None:
    # The Allow header named the first route's method only: "POST" for /v1/dossiers, which also answers GET.
    _assert_405(await client.delete("/v1/dossiers"), {"GET", "HEAD", "POST"})
    _assert_405(await client.put("/v1/dossiers/7b0c6f8e-4a53-4c32-9d1a-0a2d7f3f5a11"),
                {"GET", "HEAD", "PATCH", "DELETE"})
    _assert_405(await client.options("/healthz"), {"GET", "HEAD"})


def _resources(app) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    resources: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            resources.setdefault(route.path_format, set()).update(route.methods)
    return resources


async def test_every_route_answers_an_other_method_with_its_allow(app, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    # RFC 9110 §15.5.6: a 405 MUST list the target resource's methods; HEAD is served wherever GET is.
    for path_format, methods in _resources(app).items():
        path = re.sub(r"{[^}]+}", "7b0c6f8e-4a53-4c32-9d1a-0a2d7f3f5a11", path_format)
        allowed = methods | ({"HEAD"} if "GET" in methods else set())
        for method in METHODS:
            if method not in methods:
                response = await client.request(method, path)
                assert response.status_code == 405, (method, path, response.status_code)
                assert _allow(response) == allowed, (method, path)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
async def test_a_path_of_its_own_is_not_read_as_a_parameter(client: httpx.AsyncClient, accounts: Accounts,
                                                            method: str) -> None:
    # GET (and HEAD) /v1/dossiers/intake went to GET /v1/dossiers/{dossier_id}: 422 "intake is not a UUID", for a
    # resource that exists and answers POST only.
    citizen = await accounts.citizen()
    response = await client.request(method, "/v1/dossiers/intake", headers=citizen.headers)
    assert response.status_code == 405, response.text
    assert _allow(response) == {"POST"}


async def test_if_none_match_naming_the_etag_is_304(client: httpx.AsyncClient, accounts: Accounts,
                                                    catalogue: Catalogue) -> None:
    # The public catalogue sends an ETag "that changes whenever it does", then answered an If-None-Match naming it
    # with the whole body again (RFC 9110 §13.1.2: the condition is false, so 304 without content).
    await catalogue.procedure("HTTP-P1")
    for url in ("/v1/procedures/HTTP-P1", "/v1/agencies/A1"):
        first = await client.get(url)
        assert first.status_code == 200, (url, first.text)
        etag = first.headers["etag"]
        for if_none_match in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
            again = await client.get(url, headers={"If-None-Match": if_none_match})
            assert again.status_code == 304, (url, if_none_match)
            assert again.content == b""
            assert again.headers["etag"] == etag
            assert "content-type" not in again.headers and again.headers["x-request-id"]
            head = await client.head(url, headers={"If-None-Match": if_none_match})
            assert head.status_code == 304
        split = [("If-None-Match", '"nope"'), ("If-None-Match", etag)]  # one list in two lines (RFC 9110 §5.3)
        assert (await client.get(url, headers=split)).status_code == 304
        changed = await client.get(url, headers={"If-None-Match": '"not-this-one"'})
        assert changed.status_code == 200 and changed.json() == first.json()
    admin = (await accounts.admin()).headers
    renamed = await client.patch("/v1/agencies/A1", json={"name": "Sở đổi tên"},
                                 headers={**admin, "If-Match": (await client.get("/v1/agencies/A1")).headers["etag"]})
    assert renamed.status_code == 200, renamed.text
    assert (await client.get("/v1/agencies/A1", headers={"If-None-Match": '"1"'})).status_code == 200


async def test_if_none_match_does_not_hide_an_error(client: httpx.AsyncClient) -> None:
    # RFC 9110 §13.2.1: preconditions are ignored when the answer would not be a 2xx.
    response = await client.get("/v1/agencies/NOPE", headers={"If-None-Match": "*"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_a_dossier_is_sent_whole_whatever_its_etag(client: httpx.AsyncClient, accounts: Accounts,
                                                        dossiers: Dossiers) -> None:
    # Its ETag is its change counter, while its GET also shows what the clock and the caller decide (overdue,
    # next actions): a 304 would keep a stale view, so the dossier does not take If-None-Match (app.core.conditional).
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, await dossiers.procedure())
    url = f"/v1/dossiers/{draft['id']}"
    etag = (await client.get(url, headers=citizen.headers)).headers["etag"]
    response = await client.get(url, headers={**citizen.headers, "If-None-Match": etag})
    assert response.status_code == 200 and response.json()["id"] == draft["id"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/xml", "multipart/form-data; boundary=x"])
async def test_a_json_body_not_declared_json_is_415(client: httpx.AsyncClient, accounts: Accounts,
                                                    dossiers: Dossiers, content_type: str | None) -> None:
    # It was a 422 "Input should be a valid dictionary" at `body`: the client was told its fields were wrong when
    # the body was never read as JSON (RFC 9110 §15.5.16).
    citizen = await accounts.citizen()
    code = await dossiers.procedure()
    body = json.dumps({"procedure_code": code, "form": {}}).encode()
    headers = {**citizen.headers, **({"Content-Type": content_type} if content_type else {})}
    response = await client.post("/v1/dossiers", headers=headers, content=body)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "media_type_not_allowed"
    assert response.headers["accept"] == "application/json"
    listed = await client.get("/v1/dossiers", headers=citizen.headers)
    assert listed.json()["items"] == []  # nothing half-written


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/merge-patch+json"])
async def test_json_media_types_are_accepted(client: httpx.AsyncClient, accounts: Accounts, dossiers: Dossiers,
                                             content_type: str) -> None:
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, await dossiers.procedure())
    response = await client.patch(f"/v1/dossiers/{draft['id']}", content=json.dumps({"form": {"a": 1}}).encode(),
                                  headers={**citizen.headers, "Content-Type": content_type, "If-Match": '"1"'})
    assert response.status_code == 200, response.text


async def test_a_request_without_a_body_is_still_a_validation_error(client: httpx.AsyncClient,
                                                                    accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    response = await client.post("/v1/dossiers", headers={**citizen.headers, "Content-Type": "text/plain"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


def test_json_body_routes_document_415(app) -> None:  # type: ignore[no-untyped-def]
    spec = app.openapi()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert "media_type_not_allowed" in operation["responses"]["415"]["x-problem-codes"], (method, path)


async def test_if_match_sent_as_several_lines_is_one_list(client: httpx.AsyncClient, accounts: Accounts,
                                                          dossiers: Dossiers) -> None:
    # RFC 9110 §5.3: `If-Match: "9"` and `If-Match: "1"` mean `If-Match: "9", "1"`; only the first line was read,
    # so a change sent with the current tag in a second line was refused as stale (412).
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, await dossiers.procedure())
    headers = [*citizen.headers.items(), ("If-Match", '"9"'), ("If-Match", '"1"')]
    response = await client.patch(f"/v1/dossiers/{draft['id']}", headers=headers, json={"form": {"a": 1}})
    assert response.status_code == 200, response.text
    stale = [*citizen.headers.items(), ("If-Match", '"9"'), ("If-Match", '"1"')]
    assert (await client.patch(f"/v1/dossiers/{draft['id']}", headers=stale, json={})).status_code == 412


async def test_the_allow_header_is_whole_when_starlette_walks_the_routes_too(database_url: str) -> None:
    # A request FastAPI observes (OpenTelemetry, form limits) goes through Starlette's own walk, whose 405 named the
    # first route's methods only (app.core.routing.IndexedDispatch).
    from app.main import create_app

    app = create_app()
    app.router.form_limits = {"max_files": 10}  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        _assert_405(await http.delete("/v1/dossiers"), {"GET", "HEAD", "POST"})
        _assert_405(await http.put("/v1/dossiers/intake"), {"POST"})


@pytest.mark.parametrize("if_match", ['"1"', 'W/"1"', '"1", *'])
async def test_if_match_naming_a_tag_is_412_where_the_resource_has_no_etag(
        client: httpx.AsyncClient, accounts: Accounts, dossiers: Dossiers, if_match: str) -> None:
    # It was ignored: the rename below was made, and the client believed it was guarded against a concurrent
    # change (RFC 9110 §13.1.1: no current representation has that tag, so the condition is false).
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, await dossiers.procedure())
    response = await client.patch("/v1/accounts/me", json={"email": "someone.else@example.vn"},
                                  headers={**citizen.headers, "If-Match": if_match})
    assert response.status_code == 412, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "precondition_failed"
    assert (await client.get("/v1/accounts/me", headers=citizen.headers)).json()["email"] != "someone.else@example.vn"
    deleted = await client.delete(f"/v1/dossiers/{draft['id']}/attachments/7b0c6f8e-4a53-4c32-9d1a-0a2d7f3f5a11",
                                  headers={**citizen.headers, "If-Match": if_match})
    assert deleted.status_code == 412, deleted.text  # before the route looks for the attachment


async def test_if_match_star_passes_where_the_resource_has_no_etag(client: httpx.AsyncClient,
                                                                   accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    response = await client.patch("/v1/accounts/me", json={"email": "someone.else@example.vn"},
                                  headers={**citizen.headers, "If-Match": "*"})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "someone.else@example.vn"


def test_write_routes_document_412(app) -> None:  # type: ignore[no-untyped-def]
    spec = app.openapi()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch", "delete"):
                assert "precondition_failed" in operation["responses"]["412"]["x-problem-codes"], (method, path)

"""Hostile or careless catalogue input: each is a 4xx problem naming what is wrong, never a 500 or a silent write."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.catalogue import versions
from tests.support.catalogue_fixtures import Catalogue, procedure_body
from tests.support.edges import expect_problem, forged_cursor


@pytest.mark.parametrize("position", [["x", "P1"], [True, "P1"], [10**30, "P1"], [5, 7]])
async def test_a_forged_search_cursor_is_a_422(client: httpx.AsyncClient, catalogue: Catalogue,
                                               position: list[Any]) -> None:
    await catalogue.procedure("P1")
    response = await client.get("/v1/procedures", params={"q": "giay phep", "cursor": forged_cursor(position)})
    assert expect_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("moment", ["2030-01-01T00:00:00", "9999-12-31T23:59:59-05:00"])
async def test_validity_times_need_an_offset_and_must_fit_the_calendar(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                       catalogue: Catalogue, moment: str) -> None:
    await catalogue.procedure("P1")
    draft = await catalogue.draft("P1", processing_days=3)
    admin = await accounts.admin()
    published = await client.post(f"/v1/procedures/P1/versions/{draft}/publish", json={"valid_from": moment},
                                  headers={**admin.headers, "If-Match": "*"})
    assert expect_problem(published, 422, "validation_error")["errors"][0]["loc"] == ["body", "valid_from"]
    retired = await client.post("/v1/procedures/P1/versions/1/retire", json={"valid_to": moment},
                                headers={**admin.headers, "If-Match": "*"})
    assert expect_problem(retired, 422, "validation_error")["errors"][0]["loc"] == ["body", "valid_to"]
    doc = {"procedures": [{**procedure_body("P2"), "valid_from": moment}]}
    imported = await client.post("/v1/catalogue/import", json=doc, headers=admin.headers)
    expect_problem(imported, 422, "validation_error")
    assert (await client.get("/v1/procedures/P1")).json()["version"] == 1


async def test_import_refuses_an_agency_parent_cycle(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                     catalogue: Catalogue) -> None:
    await catalogue.agency("X1")
    admin = await accounts.admin()
    doc = {"agencies": [{"code": "X1", "name": "X1", "level": "department", "parent_code": "X2"},
                        {"code": "X2", "name": "X2", "level": "department", "parent_code": "X1"}]}
    response = await client.post("/v1/catalogue/import", json=doc, headers=admin.headers)
    errors = expect_problem(response, 422, "validation_error")["errors"]
    assert {tuple(e["loc"]) for e in errors} == {("body", "agencies", 0, "parent_code"),
                                                 ("body", "agencies", 1, "parent_code")}
    assert [a["code"] for a in (await client.get("/v1/agencies")).json()["items"]] == ["X1"]


async def test_import_cannot_take_another_agencys_procedure_or_field(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                     catalogue: Catalogue) -> None:
    await catalogue.procedure("P1", agency_code="A1")
    await catalogue.agency("B1")
    await catalogue.field("FA", agency_code="A1")
    b_admin = await accounts.official("B1", ("agency_admin",))
    for doc in ({"procedures": [procedure_body("P1", agency_code="B1")]},
                {"fields": [{"code": "FA", "name": "Now ours", "agency_code": "B1"}]}):
        response = await client.post("/v1/catalogue/import", json=doc, headers=b_admin.headers)
        assert "A1" in expect_problem(response, 403, "forbidden_role")["detail"]
    assert (await client.get("/v1/procedures/P1")).json()["agency_code"] == "A1"
    assert [f["code"] for f in (await client.get("/v1/fields", params={"agency": "A1"})).json()["items"]] == ["FA"]


async def test_control_characters_in_catalogue_text_are_refused(client: httpx.AsyncClient, accounts) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    response = await client.post("/v1/agencies", json={"code": "AN", "name": "Sở\x00", "level": "department"},
                                 headers=admin.headers)
    assert expect_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["body", "name"]
    assert (await client.get("/v1/agencies/AN")).status_code == 404


async def test_concurrent_creation_of_one_code_answers_like_a_later_duplicate(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                              catalogue: Catalogue) -> None:
    """PostgreSQL: the requests that lost the race hit the unique index after their existence check (a 500)."""
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    for path, body in (("/v1/fields", {"code": "RF", "name": "Race"}), ("/v1/procedures", procedure_body("RP"))):
        answers = await asyncio.gather(*[client.post(path, json=body, headers=admin.headers) for _ in range(6)])
        assert sorted(a.status_code for a in answers) == [201, 422, 422, 422, 422, 422], [a.text for a in answers]
        for answer in answers:
            if answer.status_code == 422:
                assert expect_problem(answer, 422, "validation_error")["errors"][0]["loc"] == ["body", "code"]


async def test_an_edit_racing_a_publish_never_changes_the_published_version(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, accounts, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: an edit that read the draft while a publish was committing then wrote into the published
    version. The publish is held open after publishing until the edit has had time to read."""
    await catalogue.procedure("P1")
    draft = await catalogue.draft("P1")
    admin = await accounts.admin()
    entered, release = asyncio.Event(), asyncio.Event()
    emit = versions.emit

    async def held_emit(*args: Any, **kwargs: Any) -> None:
        await emit(*args, **kwargs)
        entered.set()
        await release.wait()

    monkeypatch.setattr(versions, "emit", held_emit)
    publish = asyncio.create_task(client.post(f"/v1/procedures/P1/versions/{draft}/publish",
                                              headers={**admin.headers, "If-Match": "*"}))
    await asyncio.wait_for(entered.wait(), 10)
    edit = asyncio.create_task(client.patch(f"/v1/procedures/P1/versions/{draft}", json={"processing_days": 3},
                                            headers={**admin.headers, "If-Match": "*"}))
    await asyncio.sleep(0.5)
    release.set()
    assert (await publish).status_code == 200
    expect_problem(await edit, 409, "version_published")
    live = (await client.get("/v1/procedures/P1")).json()
    assert (live["version"], live["processing_days"]) == (draft, 10)

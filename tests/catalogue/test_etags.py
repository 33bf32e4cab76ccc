"""Agencies and procedure drafts carry an ETag; a change to one needs If-Match (428 without, 412 when stale), so
two editors can no longer overwrite each other's changes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from app.catalogue import importer, service, versions
from app.catalogue.models import Agency, ProcedureVersion
from app.catalogue.schemas import AgencyPatch, VersionPatch
from app.core.db import get_database
from app.core.problems import ProblemError
from tests.support.catalogue_fixtures import ADMIN, Catalogue, procedure_body
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import Accounts, Actor


def _with(actor: Actor, if_match: str | None = None) -> dict[str, str]:
    return {**actor.headers, **({"If-Match": if_match} if if_match is not None else {})}


async def _new_agency(client: httpx.AsyncClient, admin: Actor) -> httpx.Response:
    created = await client.post("/v1/agencies", headers=admin.headers,
                                json={"code": "ETAG-A", "name": "Sở Tư pháp", "level": "department"})
    assert created.status_code == 201, created.text
    return created


async def _new_draft(client: httpx.AsyncClient, admin: Actor, catalogue: Catalogue) -> httpx.Response:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    created = await client.post("/v1/procedures", headers=admin.headers, json=procedure_body("ETAG-P"))
    assert created.status_code == 201, created.text
    return created


# (resource, the field a change sets); ids for the test names
KINDS = [("agency", "name"), ("procedure version", "processing_days")]
IDS = ["agency", "version"]


def _change(field: str, n: int) -> dict[str, Any]:
    return {field: f"Tên số {n}" if field == "name" else n}


async def _make(kind: str, client: httpx.AsyncClient, admin: Actor, catalogue: Catalogue) -> httpx.Response:
    return await (_new_agency(client, admin) if kind == "agency" else _new_draft(client, admin, catalogue))


@pytest.mark.parametrize(("kind", "field"), KINDS, ids=IDS)
async def test_a_change_needs_the_current_etag(client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue,
                                               kind: str, field: str) -> None:
    admin = await accounts.admin()
    created = await _make(kind, client, admin, catalogue)
    url = created.headers["location"]
    assert created.headers["etag"] == '"1"'
    read = await client.get(url, headers=admin.headers)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    expect_problem(await client.patch(url, headers=_with(admin), json=_change(field, 3)), 428, "precondition_required")
    stale = await client.patch(url, headers=_with(admin, '"5"'), json=_change(field, 3))
    expect_problem(stale, 412, "precondition_failed")
    assert stale.headers["etag"] == '"1"'
    expect_problem(await client.patch(url, headers=_with(admin, 'W/"1"'), json=_change(field, 3)), 412,
                   "precondition_failed")
    assert (await client.get(url, headers=admin.headers)).json()[field] != _change(field, 3)[field]
    fresh = await client.patch(url, headers=_with(admin, '"1"'), json=_change(field, 3))
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()[field] == _change(field, 3)[field] and fresh.headers["etag"] == '"2"'
    assert (await client.get(url, headers=admin.headers)).headers["etag"] == '"2"'
    expect_problem(await client.patch(url, headers=_with(admin, '"1"'), json=_change(field, 4)), 412,
                   "precondition_failed")


@pytest.mark.parametrize(("kind", "field"), KINDS, ids=IDS)
async def test_of_two_changes_sent_with_the_same_etag_exactly_one_applies(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue, kind: str, field: str) -> None:
    admin, other_admin = await accounts.admin(), await accounts.admin()
    created = await _make(kind, client, admin, catalogue)
    url, tag = created.headers["location"], created.headers["etag"]
    answers = await asyncio.gather(client.patch(url, headers=_with(admin, tag), json=_change(field, 7)),
                                   client.patch(url, headers=_with(other_admin, tag), json=_change(field, 8)))
    assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200)
    loser = next(a for a in answers if a.status_code == 412)
    # (on PostgreSQL both may read the row before either writes: the loser's UPDATE is then refused at write time)
    assert loser.json()["code"] == "precondition_failed" and loser.headers["etag"] == winner.headers["etag"]
    now = await client.get(url, headers=admin.headers)
    assert now.json()[field] == winner.json()[field] and now.headers["etag"] == winner.headers["etag"] == '"2"'


async def test_a_new_draft_publish_and_retire_answer_with_the_versions_etag(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    await _new_draft(client, admin, catalogue)
    published = await client.post("/v1/procedures/ETAG-P/versions/1/publish", headers=_with(admin, '"1"'))
    assert published.status_code == 200 and published.headers["etag"] == '"2"'
    draft = await client.post("/v1/procedures/ETAG-P/versions", headers=admin.headers)
    assert draft.status_code == 201 and draft.headers["etag"] == '"1"'
    assert draft.headers["location"] == "/v1/procedures/ETAG-P/versions/2"
    # a published version is immutable whatever the ETag says
    expect_problem(await client.patch("/v1/procedures/ETAG-P/versions/1", headers=_with(admin, '"2"'),
                                      json={"processing_days": 3}), 409, "version_published")
    retired = await client.post("/v1/procedures/ETAG-P/versions/1/retire", headers=_with(admin, '"2"'), json={})
    assert retired.status_code == 200 and retired.headers["etag"] == '"3"'


async def test_publish_and_retire_need_the_current_etag(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    """State-changing writes to a versioned resource, like a draft's PATCH: 428 without If-Match, 412 with a stale
    tag, so an editor who reviewed the draft does not publish another editor's later change unseen."""
    admin = await accounts.admin()
    created = await _new_draft(client, admin, catalogue)
    reviewed = created.headers["etag"]
    changed = await client.patch("/v1/procedures/ETAG-P/versions/1", headers=_with(admin, reviewed),
                                 json={"processing_days": 9})
    assert changed.status_code == 200, changed.text
    expect_problem(await client.post("/v1/procedures/ETAG-P/versions/1/publish", headers=_with(admin)), 428,
                   "precondition_required")
    stale = await client.post("/v1/procedures/ETAG-P/versions/1/publish", headers=_with(admin, reviewed))
    expect_problem(stale, 412, "precondition_failed")
    assert stale.headers["etag"] == changed.headers["etag"]
    assert (await client.get("/v1/procedures/ETAG-P/versions/1", headers=admin.headers)).json()["status"] == "draft"
    published = await client.post("/v1/procedures/ETAG-P/versions/1/publish",
                                  headers=_with(admin, changed.headers["etag"]))
    assert published.status_code == 200, published.text
    expect_problem(await client.post("/v1/procedures/ETAG-P/versions/1/retire", json={}, headers=_with(admin)), 428,
                   "precondition_required")
    expect_problem(await client.post("/v1/procedures/ETAG-P/versions/1/retire", json={},
                                     headers=_with(admin, changed.headers["etag"])), 412, "precondition_failed")
    retired = await client.post("/v1/procedures/ETAG-P/versions/1/retire", json={},
                                headers=_with(admin, published.headers["etag"]))
    assert retired.status_code == 200, retired.text


async def _changed_behind(session: Any, model: Any, *where: Any) -> None:
    """Another writer's change committed after this session read the row: the copy held here keeps its version
    (no synchronisation of the identity map), as a copy read under READ COMMITTED does on PostgreSQL."""
    counter = model.__mapper__.version_id_col
    await session.execute(update(model).where(*where).values({counter: counter + 1})
                          .execution_options(synchronize_session=False))


async def test_the_database_refuses_an_agency_change_to_a_copy_read_before_another(catalogue: Catalogue) -> None:
    """The compare-and-set is the UPDATE's own `WHERE version = <read>`: a writer whose If-Match held for the row
    it read, but which another writer changed before it wrote, changes nothing and answers 412."""
    await catalogue.agency("A1", "Sở cũ")
    with pytest.raises(ProblemError) as caught:
        async with catalogue.session() as session, session.begin():
            read = await service.get_agency(session, "A1")  # held: the session keeps only referenced copies
            assert read is not None and read.version == 1
            await _changed_behind(session, Agency, Agency.code == "A1")
            await service.update_agency(session, ADMIN, "A1", AgencyPatch(name="Sở mới"), '"1"')
    assert caught.value.code == "precondition_failed"
    async with get_database().read_sessions() as session:
        assert (await service.get_agency(session, "A1")).name == "Sở cũ"  # type: ignore[union-attr]


async def test_the_database_refuses_a_draft_change_to_a_copy_read_before_another(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("ETAG-DB", publish=False)
    with pytest.raises(ProblemError) as caught:
        async with catalogue.session() as session, session.begin():
            read = await service.get_version(session, code, 1)  # held, as above
            assert read is not None and read.revision == 1
            await _changed_behind(session, ProcedureVersion, ProcedureVersion.procedure_code == code)
            await versions.patch_draft(session, ADMIN, code, 1, VersionPatch(processing_days=2), '"1"')
    assert caught.value.code == "precondition_failed"
    async with get_database().read_sessions() as session:
        assert (await service.get_version(session, code, 1)).processing_days == 10  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["agency", "procedure version"], ids=IDS)
async def test_a_change_refused_at_write_time_names_the_current_etag(catalogue: Catalogue, kind: str) -> None:
    """A real race: another editor's change commits between this writer's read and its write. The writer's
    If-Match held for the copy it read, the database refused its UPDATE, and the 412 names the ETag the row has
    now, as a 412 from the If-Match comparison does (a client reads again knowing what it looks for)."""
    await catalogue.agency("A1", "Sở cũ")
    code = await catalogue.procedure("ETAG-RACE", publish=False)

    async def read(session: Any) -> Any:
        return await (service.get_agency(session, "A1") if kind == "agency" else service.get_version(session, code, 1))

    async def change(session: Any, n: int) -> None:
        if kind == "agency":
            await service.update_agency(session, ADMIN, "A1", AgencyPatch(name=f"Sở số {n}"), '"1"')
        else:
            await versions.patch_draft(session, ADMIN, code, 1, VersionPatch(processing_days=n), '"1"')

    async with catalogue.session() as writer:
        async with writer.begin():  # the copy read: held (expire_on_commit=False), as within one request
            held = await read(writer)
        async with catalogue.session() as other, other.begin():
            await change(other, 2)  # committed: the row is at version 2
        with pytest.raises(ProblemError) as caught:
            async with writer.begin():
                await change(writer, 3)  # the copy says version 1: If-Match "1" holds, the UPDATE matches nothing
    assert held is not None and caught.value.code == "precondition_failed"
    assert caught.value.headers.get("ETag") == '"2"'
    async with get_database().read_sessions() as session:
        now = await read(session)
    committed = (now.name, now.version) if kind == "agency" else (now.processing_days, now.revision)
    assert committed == (("Sở số 2", 2) if kind == "agency" else (2, 2))  # the other editor's change, untouched


async def test_an_import_over_an_agency_changed_meanwhile_is_a_409_not_a_500(catalogue: Catalogue) -> None:
    """Import reads the agencies it may update without a lock; one changed before it wrote is a conflict to retry
    (the versioned UPDATE matched nothing), and nothing is imported."""
    await catalogue.agency("A1", "Sở cũ")
    doc = {"agencies": [{"code": "A1", "name": "Sở theo tệp", "level": "department"}]}
    with pytest.raises(ProblemError) as caught:
        async with catalogue.session() as session, session.begin():
            read = await service.get_agency(session, "A1")  # the copy import will find in the session, held
            await _changed_behind(session, Agency, Agency.code == "A1")
            await importer.import_document(session, None, doc)
    assert read is not None and caught.value.code == "conflict"
    async with get_database().read_sessions() as session:
        assert (await service.get_agency(session, "A1")).name == "Sở cũ"  # type: ignore[union-attr]


async def test_an_import_racing_a_new_agency_is_a_409_not_a_500(catalogue: Catalogue,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The import found no agency A9; another writer created it before the import wrote (PostgreSQL's READ
    COMMITTED allows it): the unique code refuses the insert, a conflict to retry, and nothing is imported."""
    existing = importer._existing

    async def existing_then_race(session: Any) -> Any:
        found = await existing(session)
        await session.execute(insert(Agency).values(code="A9", name="Sở của người khác", level="department"))
        return found

    monkeypatch.setattr(importer, "_existing", existing_then_race)
    doc = {"agencies": [{"code": "A9", "name": "Sở theo tệp", "level": "department"}]}
    with pytest.raises(ProblemError) as caught:
        async with catalogue.session() as session, session.begin():
            await importer.import_document(session, None, doc)
    assert caught.value.code == "conflict"
    async with get_database().read_sessions() as session:
        assert await service.get_agency(session, "A9") is None

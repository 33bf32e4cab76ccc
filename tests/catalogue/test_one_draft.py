"""At most one draft per procedure: a second is a 409 naming the first, in the service and in the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.catalogue import importer, versions
from app.catalogue.models import ProcedureVersion, VersionStatus
from app.core import clock
from tests.support.catalogue_fixtures import ADMIN, Catalogue, procedure_body
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import Accounts


async def _drafts(catalogue: Catalogue, code: str) -> list[int]:
    async with catalogue.session() as session:
        return list((await session.execute(select(ProcedureVersion.version).where(
            ProcedureVersion.procedure_code == code, ProcedureVersion.status == VersionStatus.draft))).scalars())


def _names_draft(response: httpx.Response, number: int) -> None:
    body = expect_problem(response, 409, "conflict")
    assert body["extra"] == {"draft_version": number}
    assert f"Version {number} " in body["detail"]


async def test_a_second_draft_is_refused_until_the_first_is_published(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    code = await catalogue.procedure("P-ONE-DRAFT")
    first = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    assert (first.status_code, first.json()["version"]) == (201, 2), first.text
    _names_draft(await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers), 2)
    assert await _drafts(catalogue, code) == [2]

    published = await client.post(f"/v1/procedures/{code}/versions/2/publish",
                                  headers={**admin.headers, "If-Match": first.headers["etag"]})
    assert published.status_code == 200, published.text
    again = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    assert (again.status_code, again.json()["version"]) == (201, 3), again.text


async def test_a_new_procedure_s_first_draft_counts(client: httpx.AsyncClient, accounts: Accounts,
                                                    catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    code = await catalogue.procedure("P-FIRST-DRAFT", publish=False)
    _names_draft(await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers), 1)


async def test_two_concurrent_drafts_one_is_created_one_refused(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    code = await catalogue.procedure("P-DRAFT-RACE")
    answers = await asyncio.gather(*(client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
                                     for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    created = next(a for a in answers if a.status_code == 201)
    _names_draft(next(a for a in answers if a.status_code == 409), created.json()["version"])
    assert await _drafts(catalogue, code) == [2]


async def test_the_database_refuses_a_second_draft(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-DRAFT-INDEX")
    await catalogue.draft(code)
    with pytest.raises(IntegrityError):
        async with catalogue.session() as session, session.begin():
            await session.execute(update(ProcedureVersion).where(
                ProcedureVersion.procedure_code == code, ProcedureVersion.version == 1)
                .values(status=VersionStatus.draft))


async def test_a_writer_past_the_check_gets_the_same_409_from_the_index(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a request that read "no draft" just before another's draft committed meets: the unique index."""
    admin = await accounts.admin()
    code = await catalogue.procedure("P-DRAFT-LATE")
    draft = await catalogue.draft(code)

    async def checked_nothing(*_: object) -> None:
        return None

    monkeypatch.setattr(versions, "_refuse_a_second_draft", checked_nothing)
    _names_draft(await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers), draft)
    assert await _drafts(catalogue, code) == [draft]


async def test_a_publication_cannot_be_cancelled_into_a_second_draft(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    """The scheduled version would be a draft again beside the one there is: refused, nothing changes; once that
    draft is published the cancel goes through."""
    admin = await accounts.admin()
    code = await catalogue.procedure("P-CANCEL-DRAFT")
    scheduled = await catalogue.draft(code, processing_days=4)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, scheduled, clock.now() + timedelta(days=10), if_match="*")
    draft = await catalogue.draft(code, processing_days=5)

    cancel = f"/v1/procedures/{code}/versions/{scheduled}/cancel"
    _names_draft(await client.post(cancel, headers={**admin.headers, "If-Match": "*"}), draft)
    history = (await client.get(f"/v1/procedures/{code}/versions")).json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [(1, "published"), (scheduled, "published")]
    assert await _drafts(catalogue, code) == [draft]

    published = await client.post(f"/v1/procedures/{code}/versions/{draft}/publish",
                                  json={"valid_from": clock.utc_text(clock.now() + timedelta(days=20))},
                                  headers={**admin.headers, "If-Match": "*"})
    assert published.status_code == 200, published.text
    cancelled = await client.post(cancel, headers={**admin.headers, "If-Match": "*"})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "draft"), cancelled.text


async def test_an_import_publishes_beside_a_draft_and_leaves_it_alone(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    """The import writes published (or retired) versions only: the draft stays the one draft, under its number."""
    admin = await accounts.admin()
    code = await catalogue.procedure("P-IMPORT-DRAFT")
    draft = await catalogue.draft(code, processing_days=3)
    async with catalogue.session() as session, session.begin():
        summary = await importer.import_document(session, None, {"procedures": [
            procedure_body(code, processing_days=8)]})
    assert summary.versions_published == 1
    assert (await client.get(f"/v1/procedures/{code}")).json()["version"] == draft + 1
    assert await _drafts(catalogue, code) == [draft]
    _names_draft(await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers), draft)


async def test_editors_read_the_draft_at_its_own_address(client: httpx.AsyncClient, accounts: Accounts,
                                                         catalogue: Catalogue) -> None:
    # The version list shows no drafts; the 409's draft_version and GET .../draft are how an editor finds it.
    admin = await accounts.admin()
    code = await catalogue.procedure("P-DRAFT-ADDRESS")
    expect_problem(await client.get(f"/v1/procedures/{code}/draft", headers=admin.headers), 404, "not_found")
    created = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    draft = await client.get(f"/v1/procedures/{code}/draft", headers=admin.headers)
    assert draft.status_code == 200, draft.text
    assert (draft.json()["version"], draft.json()["status"]) == (created.json()["version"], "draft")
    assert draft.headers["etag"] == created.headers["etag"]  # the ETag a change to the draft needs
    patched = await client.patch(f"/v1/procedures/{code}/versions/{draft.json()['version']}",
                                 json={"name": "Tên mới"}, headers={**admin.headers, "If-Match": draft.headers["etag"]})
    assert patched.status_code == 200, patched.text

    other = await accounts.official("000.00.99.H99", roles=("agency_admin",))
    expect_problem(await client.get(f"/v1/procedures/{code}/draft", headers=other.headers), 403, "forbidden_role")
    citizen = await accounts.citizen()
    assert (await client.get(f"/v1/procedures/{code}/draft", headers=citizen.headers)).status_code == 403
    assert (await client.get(f"/v1/procedures/{code}/draft")).status_code == 401
    listed = (await client.get(f"/v1/procedures/{code}/versions")).json()["items"]
    assert "draft" not in {v["status"] for v in listed}

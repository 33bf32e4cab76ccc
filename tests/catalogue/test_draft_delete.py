"""Deleting a procedure's draft, numbers never given twice, and a draft gone stale behind a newer publication."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from app.catalogue import importer, versions
from app.catalogue.models import Procedure, ProcedureVersion
from app.core import clock
from tests.support.catalogue_fixtures import ADMIN, Catalogue, procedure_body
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import Accounts


async def _numbers(catalogue: Catalogue, code: str) -> list[tuple[int, str]]:
    async with catalogue.session() as session:
        rows = await session.execute(select(ProcedureVersion.version, ProcedureVersion.status)
                                     .where(ProcedureVersion.procedure_code == code).order_by(ProcedureVersion.version))
        return [(number, status.value) for number, status in rows]


async def test_a_deleted_draft_s_number_is_not_given_again(client: httpx.AsyncClient, accounts: Accounts,
                                                           catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    code = await catalogue.procedure("P-DEL-DRAFT")
    created = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    assert created.json()["version"] == 2, created.text
    address = f"/v1/procedures/{code}/versions/2"

    expect_problem(await client.delete(address, headers=admin.headers), 428, "precondition_required")
    expect_problem(await client.delete(address, headers={**admin.headers, "If-Match": 'W/"7"'}),
                   412, "precondition_failed")
    deleted = await client.delete(address, headers={**admin.headers, "If-Match": created.headers["etag"]})
    assert (deleted.status_code, deleted.content) == (204, b""), deleted.text
    assert await _numbers(catalogue, code) == [(1, "published")]
    expect_problem(await client.get(f"/v1/procedures/{code}/draft", headers=admin.headers), 404, "not_found")
    expect_problem(await client.delete(address, headers={**admin.headers, "If-Match": "*"}), 404, "not_found")

    # The next draft is 3: the deleted draft's tag names no version at its address, so it can change nothing.
    again = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    assert (again.status_code, again.json()["version"]) == (201, 3), again.text
    expect_problem(await client.patch(address, json={"name": "Cũ"},
                                      headers={**admin.headers, "If-Match": created.headers["etag"]}), 404, "not_found")
    async with catalogue.session() as session:
        assert await session.scalar(select(Procedure.last_version_number).where(Procedure.code == code)) == 3


async def test_only_a_draft_is_deleted_and_never_a_procedure_s_only_version(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    headers = {**admin.headers, "If-Match": "*"}
    code = await catalogue.procedure("P-DEL-KEEP")
    expect_problem(await client.delete(f"/v1/procedures/{code}/versions/1", headers=headers), 409, "version_published")
    draft = await catalogue.draft(code, processing_days=6)
    published = await client.post(f"/v1/procedures/{code}/versions/{draft}/publish", headers=headers)
    assert published.status_code == 200, published.text
    expect_problem(await client.delete(f"/v1/procedures/{code}/versions/1", headers=headers), 409,
                   "version_published")  # retired: history too

    fresh = await catalogue.procedure("P-DEL-FIRST", publish=False)
    body = expect_problem(await client.delete(f"/v1/procedures/{fresh}/versions/1", headers=headers), 409, "conflict")
    assert "only version" in body["detail"]
    assert await _numbers(catalogue, code) == [(1, "retired"), (2, "published")]
    assert await _numbers(catalogue, fresh) == [(1, "draft")]


async def test_who_may_delete_a_draft(client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-DEL-WHO")
    draft = await catalogue.draft(code)
    address = f"/v1/procedures/{code}/versions/{draft}"
    other = await accounts.official("000.00.99.H99", roles=("agency_admin",))
    citizen = await accounts.citizen()
    expect_problem(await client.delete(address, headers={**other.headers, "If-Match": "*"}), 403, "forbidden_role")
    expect_problem(await client.delete(address, headers={**citizen.headers, "If-Match": "*"}), 403, "forbidden_role")
    expect_problem(await client.delete(address, headers={"If-Match": "*"}), 401, "token_missing")
    assert await _numbers(catalogue, code) == [(1, "published"), (draft, "draft")]


async def test_deleting_the_draft_lets_a_scheduled_publication_be_cancelled(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    """Before, a draft beside a scheduled publication blocked its cancel until the draft was published."""
    admin = await accounts.admin()
    headers = {**admin.headers, "If-Match": "*"}
    code = await catalogue.procedure("P-DEL-CANCEL")
    scheduled = await catalogue.draft(code, processing_days=4)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, scheduled, clock.now() + timedelta(days=10), if_match="*")
    draft = await catalogue.draft(code, processing_days=5)
    cancel = f"/v1/procedures/{code}/versions/{scheduled}/cancel"
    expect_problem(await client.post(cancel, headers=headers), 409, "conflict")

    assert (await client.delete(f"/v1/procedures/{code}/versions/{draft}", headers=headers)).status_code == 204
    cancelled = await client.post(cancel, headers=headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "draft"), cancelled.text
    assert await _numbers(catalogue, code) == [(1, "published"), (scheduled, "draft")]


async def test_a_draft_copied_before_an_import_s_publication_is_not_published_over_it(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue) -> None:
    """The draft holds what was in force when it was copied: published after the import's version, it would undo
    the import's change. 409 `draft_stale` naming the newer version; a new draft copies that one."""
    admin = await accounts.admin()
    headers = {**admin.headers, "If-Match": "*"}
    code = await catalogue.procedure("P-DEL-STALE", processing_days=3)
    draft = await catalogue.draft(code, name="Tên sửa trong bản nháp")
    async with catalogue.session() as session, session.begin():
        summary = await importer.import_document(session, None, {"procedures": [
            procedure_body(code, processing_days=8)]})
    assert summary.versions_published == 1
    imported = draft + 1

    body = expect_problem(await client.post(f"/v1/procedures/{code}/versions/{draft}/publish", headers=headers),
                          409, "draft_stale")
    assert body["extra"] == {"newer_version": imported}
    in_force = (await client.get(f"/v1/procedures/{code}")).json()
    assert (in_force["version"], in_force["processing_days"]) == (imported, 8)

    assert (await client.delete(f"/v1/procedures/{code}/versions/{draft}", headers=headers)).status_code == 204
    fresh = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    assert (fresh.json()["version"], fresh.json()["processing_days"]) == (imported + 1, 8), fresh.text
    published = await client.post(f"/v1/procedures/{code}/versions/{imported + 1}/publish", headers=headers)
    assert published.status_code == 200, published.text


async def test_an_import_numbers_on_from_a_deleted_draft(client: httpx.AsyncClient, accounts: Accounts,
                                                         catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    code = await catalogue.procedure("P-DEL-IMPORT")
    draft = await catalogue.draft(code)
    deleted = await client.delete(f"/v1/procedures/{code}/versions/{draft}",
                                  headers={**admin.headers, "If-Match": "*"})
    assert deleted.status_code == 204, deleted.text
    async with catalogue.session() as session, session.begin():
        await importer.import_document(session, None, {"procedures": [procedure_body(code, processing_days=9)]})
    assert await _numbers(catalogue, code) == [(1, "retired"), (draft + 1, "published")]

"""Officials and clients carry an ETag; a change to one needs If-Match (428 without, 412 when stale), so two
administrators can no longer overwrite each other's changes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.core.db import get_database
from app.core.problems import ProblemError
from app.identity import service, staff
from app.identity.deps import Principal
from app.identity.models import Account, AccountAudit
from app.identity.schemas import ClientPatch, ContactsPatch, OfficialPatch
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts, Actor
from tests.support.idp import ISSUER


@dataclass
class Kind:
    """One kind of staff account: its collection, how to make one, and a change that names its writer."""

    path: str
    action: str

    async def make(self, client: httpx.AsyncClient, admin: Actor, accounts: Accounts) -> httpx.Response:
        await accounts.ensure_agency(DEFAULT_AGENCY)
        if self.path == "/v1/officials":
            body: dict[str, Any] = {"issuer": ISSUER, "subject": f"etag-{uuid.uuid4().hex}", "name": "Lê Văn Cường",
                                    "email": "cuong@agency.gov.vn", "agency_code": DEFAULT_AGENCY,
                                    "roles": ["reception"]}
        else:
            body = {"client_id": f"etag-{uuid.uuid4().hex[:12]}", "name": "Hệ thống một cửa",
                    "scopes": ["dossiers:read"], "agency_codes": [DEFAULT_AGENCY]}
        created = await client.post(self.path, headers=admin.headers, json=body)
        assert created.status_code == 201, created.text
        return created


KINDS = [Kind("/v1/officials", "official.updated"), Kind("/v1/clients", "client.updated")]


def _with(actor: Actor, **headers: str) -> dict[str, str]:
    return {**actor.headers, **{name.replace("_", "-"): value for name, value in headers.items()}}


async def _updates(account_id: str, action: str) -> int:
    async with get_database().read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AccountAudit).where(
            AccountAudit.account_id == uuid.UUID(account_id), AccountAudit.action == action)) or 0)


@pytest.mark.parametrize("kind", KINDS, ids=["official", "client"])
async def test_a_change_needs_the_current_etag(client: httpx.AsyncClient, accounts: Accounts, kind: Kind) -> None:
    admin = await accounts.admin()
    created = await kind.make(client, admin, accounts)
    url = created.headers["location"]
    assert created.headers["etag"] == '"1"'
    read = await client.get(url, headers=admin.headers)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    expect_problem(await client.patch(url, headers=admin.headers, json={"name": "Tên mới"}), 428,
                   "precondition_required")
    stale = await client.patch(url, headers=_with(admin, If_Match='"7"'), json={"name": "Tên mới"})
    expect_problem(stale, 412, "precondition_failed")
    assert stale.headers["etag"] == '"1"'  # what to read again
    weak = await client.patch(url, headers=_with(admin, If_Match='W/"1"'), json={"name": "Tên mới"})
    expect_problem(weak, 412, "precondition_failed")  # If-Match compares strongly (RFC 9110 §13.1.1)
    assert (await client.get(url, headers=admin.headers)).json()["name"] != "Tên mới"
    fresh = await client.patch(url, headers=_with(admin, If_Match='"0", "1"'), json={"name": "Tên mới"})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["name"] == "Tên mới" and fresh.headers["etag"] == '"2"'
    assert (await client.get(url, headers=admin.headers)).headers["etag"] == '"2"'
    again = await client.patch(url, headers=_with(admin, If_Match='"1"'), json={"name": "Tên cũ"})
    expect_problem(again, 412, "precondition_failed")
    unchanged = await client.patch(url, headers=_with(admin, If_Match="*"), json={"name": "Tên mới"})
    assert unchanged.status_code == 200 and unchanged.headers["etag"] == '"2"'  # nothing changed, nothing written
    assert await _updates(created.json()["id"], kind.action) == 1


@pytest.mark.parametrize("kind", KINDS, ids=["official", "client"])
async def test_of_two_changes_sent_with_the_same_etag_exactly_one_applies(client: httpx.AsyncClient,
                                                                          accounts: Accounts, kind: Kind) -> None:
    admin, other_admin = await accounts.admin(), await accounts.admin()
    created = await kind.make(client, admin, accounts)
    url, tag = created.headers["location"], created.headers["etag"]
    answers = await asyncio.gather(
        client.patch(url, headers=_with(admin, If_Match=tag), json={"name": "Theo quản trị A"}),
        client.patch(url, headers=_with(other_admin, If_Match=tag), json={"name": "Theo quản trị B"}))
    assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200)
    loser = next(a for a in answers if a.status_code == 412)
    # (on PostgreSQL both may read the row before either writes: the loser's UPDATE is then refused at write time)
    assert loser.json()["code"] == "precondition_failed" and loser.headers["etag"] == winner.headers["etag"]
    now = await client.get(url, headers=admin.headers)
    assert now.json()["name"] == winner.json()["name"] and now.headers["etag"] == winner.headers["etag"] == '"2"'
    assert await _updates(created.json()["id"], kind.action) == 1


def _system_admin(actor: Actor) -> Principal:
    return Principal(account_id=actor.id, kind="official", issuer=ISSUER, subject=actor.subject, name=None,
                     citizen_id=None, tax_code=None, agency_code=None, roles=frozenset({"system_admin"}),
                     scopes=frozenset(), agency_codes=frozenset(), acr=None)


async def _changed_behind(session: Any, account_id: uuid.UUID) -> None:
    """Another writer's change committed after this session read the row: the copy held here stays at its
    version (no synchronisation of the identity map), as a copy read under READ COMMITTED does on PostgreSQL."""
    await session.execute(update(Account).where(Account.id == account_id)
                          .values(version=Account.version + 1, name="Người khác đổi")
                          .execution_options(synchronize_session=False))


@pytest.mark.parametrize("kind", ["official", "client"])
async def test_the_database_refuses_a_change_to_a_copy_read_before_another(accounts: Accounts, kind: str) -> None:
    """The compare-and-set is the UPDATE's own `WHERE version = <read>`: a writer whose If-Match held for the row
    it read, but which another writer changed before it wrote, changes nothing and answers 412."""
    admin = _system_admin(await accounts.admin())
    target = (await accounts.official()) if kind == "official" else (await accounts.client())
    with pytest.raises(ProblemError) as caught:
        async with get_database().write_sessions() as session, session.begin():
            read = await session.get(Account, target.id)  # held: the session keeps only referenced copies
            assert read is not None and read.version == 1
            await _changed_behind(session, target.id)
            if kind == "official":
                await staff.update_official(session, admin, target.id, OfficialPatch(name="Tên mới"), '"1"')
            else:
                await staff.update_client(session, admin, target.id, ClientPatch(name="Tên mới"), '"1"')
    assert caught.value.code == "precondition_failed"
    async with get_database().read_sessions() as session:
        assert (await session.get(Account, target.id)).name != "Tên mới"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["official", "client"])
async def test_a_change_refused_at_write_time_names_the_current_etag(accounts: Accounts, kind: str) -> None:
    """A real race: another administrator's change commits between this writer's read and its write. The
    writer's If-Match held for the copy it read, the database refused its UPDATE, and the 412 names the ETag the
    row has now, as a 412 from the If-Match comparison does."""
    admin = _system_admin(await accounts.admin())
    target = (await accounts.official()) if kind == "official" else (await accounts.client())

    async def change(session: Any, name: str) -> None:
        if kind == "official":
            await staff.update_official(session, admin, target.id, OfficialPatch(name=name), '"1"')
        else:
            await staff.update_client(session, admin, target.id, ClientPatch(name=name), '"1"')

    async with get_database().write_sessions() as writer:
        async with writer.begin():  # the copy read: held (expire_on_commit=False), as within one request
            read = await writer.get(Account, target.id)
            assert read is not None and read.version == 1
        async with get_database().write_sessions() as other, other.begin():
            await change(other, "Người khác đổi")  # committed: the row is at version 2
        with pytest.raises(ProblemError) as caught:
            async with writer.begin():
                await change(writer, "Tên mới")  # the copy says version 1: If-Match "1" holds, the UPDATE fails
    assert caught.value.code == "precondition_failed"
    assert caught.value.headers.get("ETag") == '"2"'
    async with get_database().read_sessions() as session:
        assert (await session.get(Account, target.id)).name == "Người khác đổi"  # type: ignore[union-attr]


async def test_an_applicants_contacts_change_reads_the_row_afresh(accounts: Accounts) -> None:
    """Accounts are versioned now; PATCH /v1/accounts/me takes no If-Match, so it locks and re-reads the row and
    never fails on a copy another request changed meanwhile (it used to be last-writer-wins, and still is)."""
    citizen = await accounts.citizen()
    async with get_database().write_sessions() as session, session.begin():
        read = await session.get(Account, citizen.id)  # held: the session keeps only referenced copies
        assert read is not None and read.version == 1
        await _changed_behind(session, citizen.id)
        account = await service.update_contacts(session, citizen.id, ContactsPatch(phone="0912345678"))
    assert (account.phone, account.version) == ("0912345678", 3)

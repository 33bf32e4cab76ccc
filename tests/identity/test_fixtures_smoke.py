"""The shared `accounts` fixture builds real, usable accounts (other domains' tests rely on it)."""

from __future__ import annotations

from sqlalchemy import select

from app.core.db import get_database
from app.identity.deps import principal_for
from app.identity.models import Account, Representative
from app.identity.tokens import get_verifier
from tests.support.identity_fixtures import Accounts


async def test_every_kind_verifies_and_resolves(accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    org = await accounts.organisation()
    clerk = await accounts.official("000.00.12.H01", ["reception", "processing"])
    admin = await accounts.admin()
    integrator = await accounts.client(["dossiers:sync"], ["000.00.12.H01"])
    for actor, kind in ((citizen, "citizen"), (org, "organisation"), (clerk, "official"), (admin, "official"),
                        (integrator, "client")):
        principal = await principal_for(await get_verifier().verify(actor.token))
        assert principal.account_id == actor.id
        assert principal.kind == kind
    assert (await principal_for(await get_verifier().verify(admin.token))).is_system_admin
    clerk_principal = await principal_for(await get_verifier().verify(clerk.token))
    assert clerk_principal.roles == {"reception", "processing"}
    assert clerk_principal.agency_code == "000.00.12.H01"
    assert not clerk_principal.is_system_admin
    link = await accounts.representative(org, citizen)
    async with get_database().read_sessions() as session:
        assert (await session.get(Representative, link)) is not None
        assert len((await session.scalars(select(Account))).all()) == 5

"""Accounts for tests, built through the identity services, with real tokens signed by the test IdP.

    async def test_something(client, accounts):
        citizen = await accounts.citizen()
        clerk = await accounts.official("000.00.12.H01", ["reception"])
        response = await client.get("/v1/accounts/me", headers=citizen.headers)
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.idp import ISSUER, TestIdentityProvider

DEFAULT_AGENCY = "000.00.12.H01"
TOKEN_LIFETIME_S = 3600


@dataclass(eq=False)  # hashable by identity, so tests can key dicts by actor
class Actor:
    id: uuid.UUID
    token: str
    kind: str
    subject: str
    issuer: str = ISSUER
    citizen_id: str | None = None
    tax_code: str | None = None
    agency_code: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None
    name: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def random_citizen_id() -> str:
    return "0" + "".join(random.choices("0123456789", k=11))


def random_tax_code() -> str:
    from app.identity.identifiers import tax_check_digit

    while True:
        first = "0" + "".join(random.choices("0123456789", k=8))
        check = tax_check_digit(first)
        if check is not None:
            return f"{first}{check}"


def _roles(roles: Iterable[str] | str) -> list[str]:
    return [roles] if isinstance(roles, str) else list(roles)


class Accounts:
    """Factory of registered accounts; every method writes through the services in its own transaction."""

    def __init__(self, idp: TestIdentityProvider) -> None:
        self.idp = idp

    @staticmethod
    def _write() -> AsyncSession:
        from app.core.db import get_database

        return get_database().write_sessions()

    async def citizen(self, citizen_id: str | None = None, *, name: str = "Nguyễn Văn An",
                      email: str = "an@example.vn", phone: str | None = None) -> Actor:
        from app.identity import service
        from app.identity.schemas import RegistrationIn
        from app.identity.tokens import VerifiedToken

        citizen_id = citizen_id or random_citizen_id()
        subject = f"citizen-{uuid.uuid4().hex}"
        claims = {"iss": ISSUER, "sub": subject, "citizen_id": citizen_id, "name": name}
        async with self._write() as session, session.begin():
            account = await service.register(session, VerifiedToken(ISSUER, subject, claims),
                                             RegistrationIn(email=email, phone=phone))
        token = self.idp.citizen_token(citizen_id, subject=subject, name=name, lifetime_s=TOKEN_LIFETIME_S)
        return Actor(account.id, token, "citizen", subject, citizen_id=citizen_id, name=name)

    async def organisation(self, tax_code: str | None = None, *, name: str = "Công ty TNHH Thử Nghiệm",
                           email: str = "contact@example.vn", address: str = "1 Trần Phú, Hà Tĩnh") -> Actor:
        from app.identity import service
        from app.identity.schemas import RegistrationIn
        from app.identity.tokens import VerifiedToken

        tax_code = tax_code or random_tax_code()
        subject = f"org-{uuid.uuid4().hex}"
        claims = {"iss": ISSUER, "sub": subject, "tax_code": tax_code, "name": name}
        async with self._write() as session, session.begin():
            account = await service.register(session, VerifiedToken(ISSUER, subject, claims),
                                             RegistrationIn(email=email, name=name, address=address))
        token = self.idp.org_token(tax_code, subject=subject, name=name, lifetime_s=TOKEN_LIFETIME_S)
        return Actor(account.id, token, "organisation", subject, tax_code=tax_code)

    async def ensure_agency(self, code: str, name: str | None = None) -> None:
        from app.catalogue.models import Agency, AgencyLevel

        async with self._write() as session, session.begin():
            if await session.scalar(select(Agency.id).where(Agency.code == code)) is None:
                session.add(Agency(code=code, name=name or f"Agency {code}", level=AgencyLevel.department))

    async def official(self, agency_code: str = DEFAULT_AGENCY, roles: Iterable[str] | str = ("reception",),
                       *, email: str | None = None, name: str = "Trần Thị Bình") -> Actor:
        from app.identity import staff
        from app.identity.schemas import OfficialIn

        await self.ensure_agency(agency_code)
        subject = f"official-{uuid.uuid4().hex}"
        role_list = _roles(roles)
        data = OfficialIn.model_validate({"issuer": ISSUER, "subject": subject, "name": name,
                                          "email": email or f"{subject}@agency.gov.vn",
                                          "agency_code": agency_code, "roles": role_list})
        async with self._write() as session, session.begin():
            account = await staff.create_official(session, None, data)
        token = self.idp.token(subject, email=data.email, name=name, lifetime_s=TOKEN_LIFETIME_S)
        return Actor(account.id, token, "official", subject, agency_code=agency_code,
                     roles=frozenset(role_list))

    async def admin(self) -> Actor:
        from app.identity import staff

        subject = f"admin-{uuid.uuid4().hex}"
        async with self._write() as session, session.begin():
            account = await staff.create_admin(session, issuer=ISSUER, subject=subject,
                                               email=f"{subject}@dvc.gov.vn", name="Quản trị hệ thống")
        token = self.idp.token(subject, lifetime_s=TOKEN_LIFETIME_S)
        return Actor(account.id, token, "official", subject, roles=frozenset({"system_admin"}))

    async def client(self, scopes: Iterable[str] | str = ("dossiers:read",),
                     agency_codes: Iterable[str] | str = (), *, client_id: str | None = None) -> Actor:
        from app.identity import staff
        from app.identity.schemas import ClientIn

        codes = _roles(agency_codes)
        for code in codes:
            await self.ensure_agency(code)
        client_id = client_id or f"client-{uuid.uuid4().hex[:12]}"
        data = ClientIn.model_validate({"client_id": client_id, "name": f"Integrator {client_id}",
                                        "issuer": ISSUER, "subject": client_id,
                                        "scopes": _roles(scopes), "agency_codes": codes})
        async with self._write() as session, session.begin():
            account = await staff.create_client(session, None, data)
        token = self.idp.token(client_id, azp=client_id, lifetime_s=TOKEN_LIFETIME_S)
        return Actor(account.id, token, "client", client_id, scopes=frozenset(_roles(scopes)),
                     client_id=client_id)

    async def representative(self, organisation: Actor, citizen: Actor, *,
                             valid_until: datetime | None = None, valid_from: datetime | None = None) -> uuid.UUID:
        """Authorise `citizen` to act for `organisation` (X-On-Behalf-Of), from `valid_from` and until `valid_until`
        if given; returns the link id."""
        from app.identity import service

        assert citizen.citizen_id is not None
        async with self._write() as session, session.begin():
            mandate = await service.add_representative(session, organisation.id, citizen.citizen_id,
                                                       citizen.name or "", valid_until, valid_from)
        return mandate.link.id

    async def suspend(self, actor: Actor) -> None:
        from app.identity.models import Account, AccountStatus

        async with self._write() as session, session.begin():
            await session.execute(update(Account).where(Account.id == actor.id)
                                  .values(status=AccountStatus.suspended))


@pytest.fixture
def accounts(database_url: str, idp: TestIdentityProvider) -> Accounts:
    return Accounts(idp)

"""Officials and integrator clients: created and changed by administrators only, every change audited.

An official is bound to the (issuer, subject) given at creation, never matched by email: an email claim is
not proof of anything, and matching on it would let anyone with that address take the account over.
An agency admin manages its own agency's officials only, and can never grant or touch `system_admin`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import Agency
from app.core.etag import check_if_match, flush_versioned
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found, validation_problem
from app.core.settings import get_settings
from app.identity import audit
from app.identity.deps import Principal, forbidden
from app.identity.models import Account, AccountKind, AccountStatus, Identity, OfficialRole
from app.identity.schemas import ClientIn, ClientPatch, OfficialIn, OfficialPatch

SYSTEM_ADMIN = OfficialRole.system_admin.value


async def _require_agency(session: AsyncSession, code: str, loc: list[str | int]) -> None:
    if await session.scalar(select(Agency.id).where(Agency.code == code)) is None:
        raise validation_problem([{"loc": loc, "msg": f"no agency has the code {code!r}"}])


def _check_agency_scope(actor: Principal | None, agency_code: str | None, roles: set[str]) -> None:
    """A system admin (or the command line, `actor is None`) may do anything; an agency admin, its own agency."""
    if actor is None or actor.is_system_admin:
        return
    if agency_code != actor.agency_code:
        raise forbidden("forbidden_role", "An agency admin manages only its own agency's officials.")
    if SYSTEM_ADMIN in roles:
        raise forbidden("forbidden_role", "Only a system administrator grants system_admin.")


async def _bind_identity(session: AsyncSession, account: Account, issuer: str, subject: str) -> None:
    if await session.scalar(select(Identity.id).where(Identity.issuer == issuer,
                                                      Identity.subject == subject)) is not None:
        raise ProblemError("account_exists", "This identity is already bound to an account.")
    session.add(account)
    session.add(Identity(account_id=account.id, issuer=issuer, subject=subject))
    try:
        await session.flush()
    except IntegrityError:
        raise ProblemError("account_exists", "This identity or client id is already registered.") from None


async def create_official(session: AsyncSession, actor: Principal | None, data: OfficialIn) -> Account:
    roles = sorted({r.value for r in data.roles})
    _check_agency_scope(actor, data.agency_code, set(roles))
    await _require_agency(session, data.agency_code, ["body", "agency_code"])
    account = Account(id=uuid.uuid4(), kind=AccountKind.official, name=data.name, email=str(data.email),
                      agency_code=data.agency_code, roles=roles, status=AccountStatus.active)
    await _bind_identity(session, account, data.issuer, data.subject)
    audit.record(session, account.id, actor.account_id if actor else None, "official.created",
                 {**audit.created(account, ("name", "email", "agency_code", "roles", "status")),
                  "identity": {"old": None, "new": {"issuer": data.issuer, "subject": data.subject}}})
    return account


async def create_admin(session: AsyncSession, *, issuer: str, subject: str, email: str | None,
                       name: str | None) -> Account:
    """The first system administrator (from `dvc create-admin`); belongs to no agency."""
    account = Account(id=uuid.uuid4(), kind=AccountKind.official, name=name, email=email, agency_code=None,
                      roles=[SYSTEM_ADMIN], status=AccountStatus.active)
    await _bind_identity(session, account, issuer, subject)
    audit.record(session, account.id, None, "official.created",
                 {**audit.created(account, ("name", "email", "roles", "status")),
                  "identity": {"old": None, "new": {"issuer": issuer, "subject": subject}}})
    return account


def manages(actor: Principal, account: Account) -> bool:
    """Whether `actor` may see and change this official: a system admin any; an agency admin those of its own
    agency. An agency admin with no agency (a system admin demoted to agency_admin keeps agency_code null) manages
    nobody: comparing null with null made it see every other official with no agency, system admins included."""
    return actor.is_system_admin or (actor.agency_code is not None and account.agency_code == actor.agency_code)


async def _get_kind(session: AsyncSession, account_id: uuid.UUID, kind: AccountKind, what: str) -> Account:
    account = await session.get(Account, account_id)
    if account is None or account.kind != kind:
        raise not_found(what)
    return account


async def update_official(session: AsyncSession, actor: Principal, official_id: uuid.UUID,
                          patch: OfficialPatch, if_match: str | None) -> Account:
    """Apply the patch if `if_match` names the official's current ETag (app.core.etag), else 428/412."""
    account = await _get_kind(session, official_id, AccountKind.official, "official")
    if not manages(actor, account):
        raise not_found("official")  # another agency's staff are not visible to an agency admin
    check_if_match(account.version, if_match, "official")
    current_roles = set(account.roles or ())
    updates: dict[str, Any] = {}
    fields = patch.model_fields_set
    if "roles" in fields and patch.roles is not None:
        updates["roles"] = sorted({r.value for r in patch.roles})
    if "agency_code" in fields and patch.agency_code is not None:
        await _require_agency(session, patch.agency_code, ["body", "agency_code"])
        updates["agency_code"] = patch.agency_code
    if "status" in fields and patch.status is not None:
        if account.id == actor.account_id and patch.status is AccountStatus.suspended:
            raise validation_problem([{"loc": ["body", "status"], "msg": "you cannot suspend your own account"}])
        updates["status"] = patch.status
    for field in ("name", "email"):
        if field in fields and getattr(patch, field) is not None:
            updates[field] = str(getattr(patch, field))
    if not actor.is_system_admin:
        touched = current_roles | set(updates.get("roles", ()))
        _check_agency_scope(actor, updates.get("agency_code", account.agency_code), touched)
    diff = audit.apply_changes(account, updates)
    if diff:
        audit.record(session, account.id, actor.account_id, "official.updated", diff)
        await flush_versioned(session, account, "official")
    return account


async def list_officials(session: AsyncSession, actor: Principal, page: PageParams,
                         agency_code: str | None) -> tuple[list[Account], str | None]:
    stmt = select(Account).where(Account.kind == AccountKind.official)
    if not actor.is_system_admin:
        # No agency filter at all for an agency admin without an agency was every official of every agency.
        if actor.agency_code is None or (agency_code is not None and agency_code != actor.agency_code):
            return [], None
        agency_code = actor.agency_code
    if agency_code is not None:
        stmt = stmt.where(Account.agency_code == agency_code)
    return await keyset_page(session, stmt, order=[(Account.created_at, False), (Account.id, False)],
                             params=page, key=lambda a: (a.created_at, a.id))


# --- clients -------------------------------------------------------------------------------------------------

async def create_client(session: AsyncSession, actor: Principal | None, data: ClientIn) -> Account:
    for i, code in enumerate(data.agency_codes):
        await _require_agency(session, code, ["body", "agency_codes", i])
    account = Account(id=uuid.uuid4(), kind=AccountKind.client, client_id=data.client_id, name=data.name,
                      scopes=sorted({s.value for s in data.scopes}), agency_codes=sorted(set(data.agency_codes)),
                      status=AccountStatus.active)
    issuer = data.issuer or get_settings().oidc_issuer
    subject = data.subject or data.client_id
    if await session.scalar(select(Account.id).where(Account.client_id == data.client_id)) is not None:
        raise ProblemError("account_exists", "A client with this client id exists.")
    await _bind_identity(session, account, issuer, subject)
    audit.record(session, account.id, actor.account_id if actor else None, "client.created",
                 {**audit.created(account, ("client_id", "name", "scopes", "agency_codes", "status")),
                  "identity": {"old": None, "new": {"issuer": issuer, "subject": subject}}})
    return account


async def update_client(session: AsyncSession, actor: Principal, client_id: uuid.UUID,
                        patch: ClientPatch, if_match: str | None) -> Account:
    """Apply the patch if `if_match` names the client's current ETag (app.core.etag), else 428/412."""
    account = await _get_kind(session, client_id, AccountKind.client, "client")
    check_if_match(account.version, if_match, "client")
    updates: dict[str, Any] = {}
    fields = patch.model_fields_set
    if "name" in fields and patch.name is not None:
        updates["name"] = patch.name
    if "scopes" in fields and patch.scopes is not None:
        updates["scopes"] = sorted({s.value for s in patch.scopes})
    if "agency_codes" in fields and patch.agency_codes is not None:
        for i, code in enumerate(patch.agency_codes):
            await _require_agency(session, code, ["body", "agency_codes", i])
        updates["agency_codes"] = sorted(set(patch.agency_codes))
    if "status" in fields and patch.status is not None:
        updates["status"] = patch.status
    diff = audit.apply_changes(account, updates)
    if diff:
        audit.record(session, account.id, actor.account_id, "client.updated", diff)
        await flush_versioned(session, account, "client")
    return account


async def list_clients(session: AsyncSession, page: PageParams) -> tuple[list[Account], str | None]:
    stmt = select(Account).where(Account.kind == AccountKind.client)
    return await keyset_page(session, stmt, order=[(Account.created_at, False), (Account.id, False)],
                             params=page, key=lambda a: (a.created_at, a.id))

"""The gate every non-public route passes: a verified token whose (issuer, subject) maps to an active account.

Decree 45/2020 Art. 7: only registered accounts linked to the national electronic identity act online. The
registration lookup is one indexed query per request and deliberately never cached in-process, so suspending
an account takes effect on the next request in every worker and replica.

Use the aliases in route signatures::

    async def list_things(caller: CallerDep) -> ...
    async def receive(official: Annotated[Principal, official("reception")]) -> ...
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import get_database
from app.core.direct import DirectStatement, direct_connection
from app.core.problems import ProblemError
from app.core.settings import get_settings
from app.identity.models import Account, AccountKind, AccountStatus, Identity, Representative, mandate_in_force
from app.identity.tokens import VerifiedToken, get_verifier, unauthorized

bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT",
                           description="An OpenID Connect access token from the identity provider.")

APPLICANT_KINDS = frozenset({"citizen", "organisation"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the registered account behind a verified token."""

    account_id: uuid.UUID
    kind: str  # "citizen" | "organisation" | "official" | "client"
    issuer: str
    subject: str
    name: str | None
    citizen_id: str | None  # citizens
    tax_code: str | None  # organisations
    agency_code: str | None  # officials
    roles: frozenset[str]  # officials
    scopes: frozenset[str]  # clients
    agency_codes: frozenset[str]  # clients: agencies it may act for
    acr: str | None

    @property
    def is_system_admin(self) -> bool:
        return self.kind == "official" and "system_admin" in self.roles

    @property
    def is_applicant(self) -> bool:
        return self.kind in APPLICANT_KINDS


def forbidden(code: str, detail: str) -> ProblemError:
    challenge = 'Bearer realm="dvc-service", error="insufficient_scope"'
    return ProblemError(code, detail, headers={"WWW-Authenticate": challenge})


# Built once with bound parameters: constructing the select (and its cache key) on every request was a
# quarter of the gate's cost in the profile (bench/PROFILE.md). Only the statement is reused, never a result.
_LOOKUP = DirectStatement(
    select(Account.id, Account.kind, Account.status, Account.name, Account.citizen_id, Account.tax_code,
           Account.agency_code, Account.roles, Account.scopes, Account.agency_codes, Account.client_id)
    .join(Identity, Identity.account_id == Account.id)
    .where(Identity.issuer == bindparam("issuer"), Identity.subject == bindparam("subject"))
)


async def principal_for(token: VerifiedToken) -> Principal:
    """Map a verified token to its registered, active account (one indexed query, own short read session)."""
    # Runs on every request: on the direct connection (asyncpg itself on PostgreSQL, autocommit: one round trip),
    # not an ORM session, and the route's own session is untouched.
    async with direct_connection() as connection:
        row = await connection.fetchrow(_LOOKUP, issuer=token.issuer, subject=token.subject)
    if row is None:
        raise forbidden("account_not_registered",
                        "No account is registered for this identity; register with POST /v1/accounts.")
    if row["status"] != AccountStatus.active:
        raise forbidden("account_suspended", "This account is suspended.")
    claims = token.claims
    if row["kind"] == AccountKind.client:
        # A client's token must come from that client: the authorised party matches the registered client id.
        azp = claims.get(get_settings().oidc_claim_client_id)
        if azp is not None and azp != row["client_id"]:
            raise forbidden("account_not_registered", "The token's client is not the registered client.")
    acr = claims.get("acr")
    return Principal(
        account_id=row["id"], kind=str(row["kind"]), issuer=token.issuer, subject=token.subject,
        name=row["name"], citizen_id=row["citizen_id"], tax_code=row["tax_code"], agency_code=row["agency_code"],
        roles=frozenset(row["roles"] or ()), scopes=frozenset(row["scopes"] or ()),
        agency_codes=frozenset(row["agency_codes"] or ()), acr=str(acr) if acr is not None else None,
    )


async def verified_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> VerifiedToken:
    """A verified token, registered or not (registration itself needs exactly this)."""
    if credentials is None or not credentials.credentials:
        raise unauthorized("token_missing", "This operation needs an `Authorization: Bearer` token.")
    return await get_verifier().verify(credentials.credentials)


TokenDep = Annotated[VerifiedToken, Depends(verified_token)]


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The registered caller. `verified_token`'s check done here, not as a sub-dependency: every non-public route
    solves this one, and each level of dependencies costs FastAPI its own pass per request."""
    return await principal_for(await verified_token(credentials))


CallerDep = Annotated[Principal, Depends(current_principal)]


async def current_applicant(caller: CallerDep) -> Principal:
    if not caller.is_applicant:
        raise forbidden("forbidden_role", "Only citizen and organisation accounts may do this.")
    return caller


async def current_citizen(caller: CallerDep) -> Principal:
    if caller.kind != "citizen":
        raise forbidden("forbidden_role", "Only citizen accounts may do this.")
    return caller


async def current_organisation(caller: CallerDep) -> Principal:
    if caller.kind != "organisation":
        raise forbidden("forbidden_role", "Only organisation accounts may do this.")
    return caller


async def current_admin(caller: CallerDep) -> Principal:
    if not caller.is_system_admin:
        raise forbidden("forbidden_role", "Only system administrators may do this.")
    return caller


ApplicantDep = Annotated[Principal, Depends(current_applicant)]
CitizenDep = Annotated[Principal, Depends(current_citizen)]
OrganisationDep = Annotated[Principal, Depends(current_organisation)]
AdminDep = Annotated[Principal, Depends(current_admin)]


def _has_role(principal: Principal, roles: tuple[str, ...]) -> bool:
    if principal.kind != "official":
        return False
    return principal.is_system_admin or not roles or bool(principal.roles.intersection(roles))


def _has_scope(principal: Principal, scopes: tuple[str, ...]) -> bool:
    return principal.kind == "client" and set(scopes).issubset(principal.scopes)


def official(*roles: str) -> Any:
    """`Annotated[Principal, official("reception")]`: an official holding any of `roles` (system_admin passes)."""

    async def require_official(caller: CallerDep) -> Principal:
        if not _has_role(caller, roles):
            raise forbidden("forbidden_role", f"This needs an official with role: {', '.join(roles) or 'any'}.")
        return caller

    return Depends(require_official)


def agency_official(*roles: str) -> Any:
    """`Annotated[Principal, agency_official("finance")]`: an official holding one of `roles` at their own agency,
    acting there only. A system administrator's rank is no such role (as in processing, app.workflow.transitions):
    the principal handed on has it removed, so visibility rules see an official of their agency, or of none."""

    async def require_agency_official(caller: CallerDep) -> Principal:
        if caller.kind != "official" or not caller.roles.intersection(roles) or caller.agency_code is None:
            raise forbidden("forbidden_role", f"This needs an official with role {', '.join(roles)} at an agency.")
        return replace(caller, roles=caller.roles - {"system_admin"})

    return Depends(require_agency_official)


def client(*scopes: str) -> Any:
    """`Annotated[Principal, client("dossiers:sync")]`: an integrator client holding all of `scopes`."""

    async def require_client(caller: CallerDep) -> Principal:
        if caller.kind != "client":
            raise forbidden("forbidden_role", "Only integrator clients may do this.")
        if not _has_scope(caller, scopes):
            raise forbidden("scope_missing", f"This needs the scopes: {', '.join(scopes)}.")
        return caller

    return Depends(require_client)


def official_or_client(roles: tuple[str, ...] = (), scopes: tuple[str, ...] = ()) -> Any:
    """An official with any of `roles`, or a client with all of `scopes`."""

    async def require_official_or_client(caller: CallerDep) -> Principal:
        if caller.kind == "client":
            if not _has_scope(caller, scopes):
                raise forbidden("scope_missing", f"This needs the scopes: {', '.join(scopes)}.")
            return caller
        if not _has_role(caller, roles):
            raise forbidden("forbidden_role", f"This needs an official with role: {', '.join(roles) or 'any'}.")
        return caller

    return Depends(require_official_or_client)


# --- acting for an organisation (X-On-Behalf-Of) -------------------------------------------------------------

@dataclass(frozen=True)
class Acting:
    """Whose dossier this is (the applicant) and who pressed the button (the actor)."""

    applicant_id: uuid.UUID
    applicant_kind: str  # "citizen" | "organisation"
    actor_id: uuid.UUID
    # The mandate the actor acts under (on behalf only): what they may read of the organisation's account is
    # narrowed to it (app.notifications.service).
    mandate_id: uuid.UUID | None = None

    @property
    def on_behalf(self) -> bool:
        return self.applicant_id != self.actor_id


async def acting_applicant(principal: Principal, on_behalf_of: uuid.UUID | None,
                           session: AsyncSession) -> Acting:
    """Resolve `X-On-Behalf-Of`: a citizen representative of an active organisation acts for it while the mandate is
    in force; else 403 (no mandate, withdrawn, expired or not begun yet: the same answer). Every request resolves it
    again, so a representative's view of the organisation's dossiers starts and ends with the term."""
    if not principal.is_applicant:
        raise forbidden("forbidden_role", "Only citizen and organisation accounts file dossiers.")
    if on_behalf_of is None or on_behalf_of == principal.account_id:
        return Acting(principal.account_id, principal.kind, principal.account_id)
    if principal.kind != "citizen":
        raise forbidden("not_a_representative", "Only a citizen account can represent an organisation.")
    found = (await session.execute(
        select(Representative.id)
        .join(Account, Account.id == Representative.organisation_id)
        .where(Representative.organisation_id == on_behalf_of,
               Representative.citizen_account_id == principal.account_id,
               mandate_in_force(clock.now()),
               Account.status == AccountStatus.active)
    )).first()
    if found is None:
        raise forbidden("not_a_representative", "You are not an authorised representative of that organisation "
                        "account (never authorised, withdrawn, expired or not yet in force).")
    return Acting(on_behalf_of, "organisation", principal.account_id, mandate_id=found.id)


async def current_acting(
    caller: ApplicantDep,
    x_on_behalf_of: Annotated[uuid.UUID | None, Header(description="Organisation account id to act for.")] = None,
) -> Acting:
    async with get_database().read_sessions() as session:
        return await acting_applicant(caller, x_on_behalf_of, session)


ActingDep = Annotated[Acting, Depends(current_acting)]


# --- level of assurance ---------------------------------------------------------------------------------------

# A level is the trailing ASCII digits, at most nine of them: `\d+` also took other scripts' digits (`٣` counted
# as level 3), and a token whose acr ended in 4,300 digits or more failed int() with a 500. `\Z`, not `$`, which
# also matches before a final newline.
_LEVEL = re.compile(r"([0-9]{1,9})\Z")


def acr_satisfies(acr: str | None, required: str) -> bool:
    """True when `acr` is at least `required`: numeric suffixes compare as levels, other values must match."""
    if not required:
        return True
    if acr is None:
        return False
    have, need = _LEVEL.search(acr), _LEVEL.search(required)
    if have and need and acr[: have.start()] == required[: need.start()]:
        return int(have.group(1)) >= int(need.group(1))
    return acr == required


def require_assurance(principal: Principal) -> None:
    """Call before submitting a dossier: 403 `assurance_too_low` when DVC_OIDC_REQUIRED_ACR is not met."""
    required = get_settings().oidc_required_acr
    if not acr_satisfies(principal.acr, required):
        raise forbidden("assurance_too_low", f"This needs a login with assurance level {required} or higher.")

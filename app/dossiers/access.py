"""Who may see and change which dossier, decided in SQL (no existence leak: anything else is 404).

- applicants see their own dossiers; a representative sees the organisation's when acting for it
  (`X-On-Behalf-Of`, checked by app.identity.deps.acting_applicant);
- officials see their agency's submitted dossiers, plus desk/post drafts they registered themselves;
  a system administrator sees every submitted dossier;
- integrator clients with `dossiers:read` see submitted dossiers of the agencies they may act for; a client
  without it (a national-portal connector with `dossiers:sync` only) sees the dossiers it forwarded itself, so
  the `Location` its intake answered names a dossier it can read.
Drafts are private to whoever is filling them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, false, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core.etag import version_tag
from app.core.problems import ProblemError, not_found
from app.dossiers.models import Dossier, DossierState, Source
from app.identity.deps import Principal
from app.integration.models import NationalDossier

DRAFT = DossierState.draft.value


@dataclass(frozen=True)
class Viewer:
    """The caller, and for applicants the account whose dossiers they handle (themselves or an organisation)."""

    principal: Principal
    applicant_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal, acting_for: uuid.UUID | None = None) -> Viewer:
        if principal.is_applicant:
            return cls(principal, acting_for or principal.account_id)
        return cls(principal, None)

    @property
    def account_id(self) -> uuid.UUID:
        return self.principal.account_id

    def has_role(self, *roles: str) -> bool:
        p = self.principal
        return p.kind == "official" and (p.is_system_admin or bool(p.roles.intersection(roles)))

    def official_at(self, agency_code: str, *roles: str) -> bool:
        """An official holding one of `roles` at that agency (system administrators everywhere)."""
        p = self.principal
        if p.kind != "official":
            return False
        if p.is_system_admin:
            return True
        return p.agency_code == agency_code and bool(p.roles.intersection(roles))


# The visibility rule in each of its shapes, with bind parameters (values from `visibility`): routes that lock
# or read one dossier run statements built once per shape (building a statement cost more than running it),
# lists compose the shape's clause with their filters and pass the values when they execute.
_OWN_OR_SUBMITTED = or_(Dossier.state != DRAFT, Dossier.actor_id == bindparam("v_account"))
# An applicant's drafts are the ones filed online; a desk or postal draft is the registering official's until
# it is submitted, even when its applicant has an account.
_APPLICANTS_OWN = and_(Dossier.applicant_id == bindparam("v_applicant"),
                       or_(Dossier.state != DRAFT, Dossier.source == Source.online.value))
_FORWARDED_BY_CALLER = Dossier.id.in_(select(NationalDossier.dossier_id)
                                      .where(NationalDossier.client_id == bindparam("v_account")))
VISIBILITY_SHAPES: dict[str, ColumnElement[bool]] = {
    "applicant": _APPLICANTS_OWN,
    "administrator": _OWN_OR_SUBMITTED,
    "official": and_(Dossier.agency_code == bindparam("v_agency"), _OWN_OR_SUBMITTED),
    "client": and_(Dossier.agency_code.in_(bindparam("v_agencies", expanding=True)), Dossier.state != DRAFT),
    "forwarder": and_(Dossier.agency_code.in_(bindparam("v_agencies", expanding=True)), _FORWARDED_BY_CALLER),
    "nobody": false(),
}
# The same shapes for statements compiled once for asyncpg (app.core.direct), which cannot expand a list given
# when they run: PostgreSQL takes the client's agencies as one array parameter.
ASYNCPG_VISIBILITY_SHAPES: dict[str, ColumnElement[bool]] = {
    **VISIBILITY_SHAPES,
    "client": and_(Dossier.agency_code == any_(bindparam("v_agencies", type_=ARRAY(String))), Dossier.state != DRAFT),
    "forwarder": and_(Dossier.agency_code == any_(bindparam("v_agencies", type_=ARRAY(String))),
                      _FORWARDED_BY_CALLER),
}


def visibility(viewer: Viewer) -> tuple[str, dict[str, Any]]:
    """The shape of `viewer`'s visibility rule (a key of VISIBILITY_SHAPES) and its parameters."""
    p = viewer.principal
    if p.is_applicant:
        return "applicant", {"v_applicant": viewer.applicant_id}
    if p.kind == "official":
        if p.is_system_admin:
            return "administrator", {"v_account": p.account_id}
        if p.agency_code is None:
            return "nobody", {}
        return "official", {"v_agency": p.agency_code, "v_account": p.account_id}
    if p.kind == "client" and "dossiers:read" in p.scopes and p.agency_codes:
        return "client", {"v_agencies": sorted(p.agency_codes)}
    if p.kind == "client" and p.agency_codes:
        return "forwarder", {"v_agencies": sorted(p.agency_codes), "v_account": p.account_id}
    return "nobody", {}


_ONE = select(Dossier).where(Dossier.id == bindparam("dossier_id"))
_BY_ID = {shape: _ONE.where(clause) for shape, clause in VISIBILITY_SHAPES.items()}
_LOCK_BY_ID = _ONE.with_for_update().execution_options(populate_existing=True)
_LOCK_VISIBLE_BY_ID = {shape: statement.with_for_update().execution_options(populate_existing=True)
                       for shape, statement in _BY_ID.items()}


async def get_dossier_for(session: AsyncSession, principal: Principal | Viewer, dossier_id: uuid.UUID) -> Dossier:
    """The dossier if the caller may see it; 404 `not_found` otherwise (whether or not it exists)."""
    viewer = principal if isinstance(principal, Viewer) else Viewer.of(principal)
    shape, values = visibility(viewer)
    dossier = (await session.execute(_BY_ID[shape], {"dossier_id": dossier_id, **values})).scalar_one_or_none()
    if dossier is None:
        raise not_found("dossier")
    return dossier


async def lock_dossier(session: AsyncSession, dossier_id: uuid.UUID, viewer: Viewer | None = None) -> Dossier:
    """The dossier, locked for the rest of the transaction (row lock on PostgreSQL; SQLite's write
    transaction is already exclusive) and refreshed, so checks made now still hold at commit. With `viewer`,
    only if that viewer may see it (else 404), in the same statement: PostgreSQL re-checks the condition on
    the row it finally locks, so there is no separate visibility read (one round trip fewer)."""
    stmt, values = _LOCK_BY_ID, dict[str, Any]()
    if viewer is not None:
        shape, values = visibility(viewer)
        stmt = _LOCK_VISIBLE_BY_ID[shape]
    dossier = (await session.execute(stmt, {"dossier_id": dossier_id, **values})).scalar_one_or_none()
    if dossier is None:
        raise not_found("dossier")
    return dossier


def may_edit_draft(viewer: Viewer, dossier: Dossier) -> bool:
    """The applicant (or its representative), or the reception official who registered a desk/post draft."""
    if viewer.principal.is_applicant:
        return dossier.applicant_id == viewer.applicant_id and dossier.source == Source.online
    return dossier.actor_id == viewer.account_id and viewer.official_at(dossier.agency_code, "reception")


def require_draft(dossier: Dossier) -> None:
    if dossier.state != DRAFT:
        raise ProblemError("dossier_not_draft", f"The dossier is {dossier.state}; only drafts can be changed.")


def etag(dossier: Dossier) -> str:
    """A strong validator: the optimistic-concurrency version (bumped by every change)."""
    return version_tag(dossier.version)

"""Who may see and change which dossier, decided in SQL (no existence leak: anything else is 404).

- applicants see their own dossiers; a representative sees the organisation's when acting for it
  (`X-On-Behalf-Of`, checked by app.identity.deps.acting_applicant);
- officials see their agency's submitted dossiers, plus desk/post drafts they registered themselves;
  a system administrator sees every submitted dossier;
- integrator clients with `dossiers:read` see submitted dossiers of the agencies they may act for.
Drafts are private to whoever is filling them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core.problems import ProblemError, not_found
from app.dossiers.models import Dossier, DossierState
from app.identity.deps import Principal

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


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    p = viewer.principal
    if p.is_applicant:
        return Dossier.applicant_id == viewer.applicant_id
    if p.kind == "official":
        own_or_submitted = or_(Dossier.state != DRAFT, Dossier.actor_id == p.account_id)
        if p.is_system_admin:
            return own_or_submitted
        if p.agency_code is None:
            return false()
        return and_(Dossier.agency_code == p.agency_code, own_or_submitted)
    if p.kind == "client" and "dossiers:read" in p.scopes and p.agency_codes:
        return and_(Dossier.agency_code.in_(sorted(p.agency_codes)), Dossier.state != DRAFT)
    return false()


async def get_dossier_for(session: AsyncSession, principal: Principal | Viewer, dossier_id: uuid.UUID) -> Dossier:
    """The dossier if the caller may see it; 404 `not_found` otherwise (whether or not it exists)."""
    viewer = principal if isinstance(principal, Viewer) else Viewer.of(principal)
    dossier = (await session.execute(
        select(Dossier).where(Dossier.id == dossier_id, visible_to(viewer)))).scalar_one_or_none()
    if dossier is None:
        raise not_found("dossier")
    return dossier


async def lock_dossier(session: AsyncSession, dossier_id: uuid.UUID, viewer: Viewer | None = None) -> Dossier:
    """The dossier, locked for the rest of the transaction (row lock on PostgreSQL; SQLite's write
    transaction is already exclusive) and refreshed, so checks made now still hold at commit. With `viewer`,
    only if that viewer may see it (else 404), in the same statement: PostgreSQL re-checks the condition on
    the row it finally locks, so there is no separate visibility read (one round trip fewer)."""
    stmt = select(Dossier).where(Dossier.id == dossier_id)
    if viewer is not None:
        stmt = stmt.where(visible_to(viewer))
    dossier = (await session.execute(
        stmt.with_for_update().execution_options(populate_existing=True))).scalar_one_or_none()
    if dossier is None:
        raise not_found("dossier")
    return dossier


def may_edit_draft(viewer: Viewer, dossier: Dossier) -> bool:
    """The applicant (or its representative), or the reception official who registered a desk/post draft."""
    if viewer.principal.is_applicant:
        return dossier.applicant_id == viewer.applicant_id
    return dossier.actor_id == viewer.account_id and viewer.official_at(dossier.agency_code, "reception")


def require_draft(dossier: Dossier) -> None:
    if dossier.state != DRAFT:
        raise ProblemError("dossier_not_draft", f"The dossier is {dossier.state}; only drafts can be changed.")


def etag(dossier: Dossier) -> str:
    """A strong validator: the optimistic-concurrency version (bumped by every change)."""
    return f'"{dossier.version}"'


def check_if_match(dossier: Dossier, if_match: str | None, *, required: bool = True) -> None:
    """428 `precondition_required` without If-Match (when required), 412 `precondition_failed` when stale."""
    if if_match is None:
        if required:
            raise ProblemError("precondition_required", "Send If-Match with the ETag you last read.")
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in tags and etag(dossier) not in tags:
        raise ProblemError("precondition_failed", "The dossier has changed since you read it; read it again.",
                           headers={"ETag": etag(dossier)})

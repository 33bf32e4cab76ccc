"""Whose figures a caller may read: the agencies in scope, decided before any figure is summed.

- a system administrator: every agency;
- an official: their agency and the agencies under it (agencies.parent_code, any depth);
- an integrator client with `reports:read`: the agencies it may act for, and those under them.
An `agency=` filter narrows the scope to that agency and its children; an agency outside the caller's
scope (or unknown) is 404 `not_found`, the same answer whether or not it exists. A `procedure=` filter with
a code the catalogue never had is 404 too (the catalogue is public: nothing is revealed).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import Agency, Procedure
from app.core.problems import not_found
from app.identity.deps import Principal


async def _children(session: AsyncSession) -> dict[str | None, list[str]]:
    children: dict[str | None, list[str]] = defaultdict(list)
    for code, parent in (await session.execute(select(Agency.code, Agency.parent_code))).all():
        children[parent].append(code)
    return children


def _with_descendants(roots: set[str], children: dict[str | None, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        code = stack.pop()
        if code in seen:
            continue
        seen.add(code)
        stack.extend(children.get(code, ()))
    return seen


def _roots(principal: Principal) -> set[str] | None:
    """The agencies a caller reads by right; None for every agency."""
    if principal.kind == "official":
        if principal.is_system_admin:
            return None
        return {principal.agency_code} if principal.agency_code else set()
    if principal.kind == "client" and "reports:read" in principal.scopes:
        return set(principal.agency_codes)
    return set()


async def agency_scope(session: AsyncSession, principal: Principal, agency: str | None) -> frozenset[str] | None:
    """The agency codes to report on (None: all agencies, only for system administrators without a filter)."""
    roots = _roots(principal)
    if roots is None and agency is None:
        return None
    children = await _children(session)
    known = {c for codes in children.values() for c in codes}
    allowed = _with_descendants(roots, children) if roots is not None else known
    if agency is not None:
        if agency not in allowed or agency not in known:
            raise not_found("agency")
        return frozenset(_with_descendants({agency}, children))
    return frozenset(allowed & known)


async def public_scope(session: AsyncSession, agency: str) -> frozenset[str]:
    """The public late list's `agency=`: that agency and those under it (404 for an unknown code)."""
    children = await _children(session)
    if agency not in {c for codes in children.values() for c in codes}:
        raise not_found("agency")
    return frozenset(_with_descendants({agency}, children))


async def require_procedure(session: AsyncSession, code: str) -> None:
    """404 for a procedure code the catalogue does not know: a mistyped code used to give a report of zeros,
    indistinguishable from a procedure that received no dossier."""
    if await session.scalar(select(Procedure.id).where(Procedure.code == code)) is None:
        raise not_found("procedure")

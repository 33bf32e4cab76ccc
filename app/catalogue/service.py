"""Catalogue rules: who may edit what, agencies, fields, and the lookups other domains use.

Other domains call only the functions re-exported at the bottom of this module (get_published_version,
get_version, get_agency, ...); procedure lifecycle lives in versions.py, search in search.py, bulk in importer.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.catalogue import schemas
from app.catalogue.models import Agency, Field, ProcedureVersion, VersionStatus
from app.catalogue.text import search_column
from app.core import clock
from app.core.direct import DirectConnection, DirectStatement
from app.core.etag import check_if_match, flush_versioned
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found, validation_problem


class Editor(Protocol):
    """What the catalogue needs of a caller (app.identity.deps.Principal satisfies it)."""

    @property
    def kind(self) -> str: ...
    @property
    def agency_code(self) -> str | None: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def scopes(self) -> frozenset[str]: ...
    @property
    def agency_codes(self) -> frozenset[str]: ...
    @property
    def is_system_admin(self) -> bool: ...


def may_edit(editor: Editor, agency_code: str | None) -> bool:
    """system_admin edits everything; an agency_admin its own agency; a catalogue:write client its agencies."""
    if editor.is_system_admin:
        return True
    if agency_code is None:
        return False
    if editor.kind == "official":
        return "agency_admin" in editor.roles and editor.agency_code == agency_code
    if editor.kind == "client":
        return "catalogue:write" in editor.scopes and agency_code in editor.agency_codes
    return False


def require_edit(editor: Editor, *agency_codes: str | None) -> None:
    for code in agency_codes:
        if not may_edit(editor, code):
            raise ProblemError("forbidden_role", f"You may not edit the catalogue of agency {code or '(none)'}.")


def field_error(loc: list[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One validation error; `pointer` is the RFC 6901 JSON pointer into the request body."""
    path = loc[1:] if loc and loc[0] == "body" else loc
    pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return {"loc": loc, "msg": msg, "type": kind, "pointer": pointer}


async def flush_new(session: AsyncSession, key: str, message: str) -> None:
    """Insert what was added: a concurrent request that created the same code first (after our existence check)
    gets the answer a later one gets, a 422 on `key`, instead of the unique violation's 500."""
    try:
        await session.flush()
    except IntegrityError as error:
        raise validation_problem([field_error(["body", key], message)]) from error


def live_clause(now: Any = None) -> ColumnElement[bool]:
    """The version currently in force: published or retired, with now inside [valid_from, valid_to)."""
    moment = clock.now() if now is None else now  # a moment, or a bind parameter for a prebuilt statement
    return and_(
        ProcedureVersion.status.in_([VersionStatus.published, VersionStatus.retired]),
        ProcedureVersion.valid_from.is_not(None),
        ProcedureVersion.valid_from <= moment,
        or_(ProcedureVersion.valid_to.is_(None), ProcedureVersion.valid_to > moment),
    )


def has_ended(version: ProcedureVersion, now: datetime) -> bool:
    """Whether a version that was in force is no longer (retired, or replaced, by `now`). A version stored retired
    stays in force until its `valid_to` (see live_clause)."""
    return version.valid_to is not None and version.valid_to <= now


# --- lookups used by other domains -------------------------------------------------------------------------

# Built once, run with parameters: every dossier creation and submission looks these up, and building the
# statement (the live clause above all) cost more than running it.
_PUBLISHED_VERSION = (select(ProcedureVersion)
                      .where(ProcedureVersion.procedure_code == bindparam("code"), live_clause(bindparam("now")))
                      .order_by(ProcedureVersion.version.desc()).limit(1))
_AGENCY = select(Agency).where(Agency.code == bindparam("code"))


async def get_published_version(session: AsyncSession, procedure_code: str) -> ProcedureVersion | None:
    """The version in force now (what a new dossier is filed under), or None."""
    result = await session.execute(_PUBLISHED_VERSION, {"code": procedure_code, "now": clock.now()})
    return result.scalar_one_or_none()


_PUBLISHED_VERSION_AND_AGENCY = (_PUBLISHED_VERSION.add_columns(Agency.name)
                                 .outerjoin(Agency, Agency.code == ProcedureVersion.agency_code))


# What a new draft needs of the version in force, as one row (the direct connection: no ORM, no session).
_FILING_TERMS = DirectStatement(
    select(ProcedureVersion.procedure_code, ProcedureVersion.version, ProcedureVersion.name,
           ProcedureVersion.agency_code, ProcedureVersion.channels, ProcedureVersion.applicant_kinds,
           ProcedureVersion.form_schema, Agency.name.label("agency_name"))
    .outerjoin(Agency, Agency.code == ProcedureVersion.agency_code)
    .where(ProcedureVersion.procedure_code == bindparam("code"), live_clause(bindparam("now")))
    .order_by(ProcedureVersion.version.desc()).limit(1))


async def filing_terms(connection: DirectConnection, procedure_code: str) -> Mapping[str, Any] | None:
    """The version in force now, as a new draft records and checks it, with its agency's name; or None."""
    return await connection.fetchrow(_FILING_TERMS, code=procedure_code, now=clock.now())


async def get_published_version_and_agency_name(session: AsyncSession,
                                                procedure_code: str) -> tuple[ProcedureVersion, str | None] | None:
    """The version in force now with its agency's name (None if the agency is not in the catalogue), in one
    statement: a new dossier records both."""
    row = (await session.execute(_PUBLISHED_VERSION_AND_AGENCY,
                                 {"code": procedure_code, "now": clock.now()})).one_or_none()
    return None if row is None else (row[0], row[1])


_VERSION = select(ProcedureVersion).where(ProcedureVersion.procedure_code == bindparam("code"),
                                          ProcedureVersion.version == bindparam("version"))


async def get_version(session: AsyncSession, procedure_code: str, version: int) -> ProcedureVersion | None:
    return (await session.execute(_VERSION, {"code": procedure_code, "version": version})).scalar_one_or_none()


async def get_agency(session: AsyncSession, code: str) -> Agency | None:
    return (await session.execute(_AGENCY, {"code": code})).scalar_one_or_none()


async def get_field(session: AsyncSession, code: str) -> Field | None:
    return (await session.execute(select(Field).where(Field.code == code))).scalar_one_or_none()


# --- agencies ----------------------------------------------------------------------------------------------

async def list_agencies(session: AsyncSession, page: PageParams, parent: str | None = None,
                        ) -> tuple[list[Agency], str | None]:
    stmt = select(Agency)
    if parent is not None:
        stmt = stmt.where(Agency.parent_code == parent)
    return await keyset_page(session, stmt, order=[(Agency.code, False)], params=page, key=lambda a: (a.code,))


async def _check_parent(session: AsyncSession, code: str, parent_code: str | None) -> None:
    if parent_code is None:
        return
    if await get_agency(session, parent_code) is None:
        raise validation_problem([field_error(["body", "parent_code"], f"unknown agency {parent_code!r}")])
    seen = {code}
    cursor: str | None = parent_code
    while cursor is not None:  # a parent chain must never loop back to the agency itself
        if cursor in seen:
            raise validation_problem([field_error(["body", "parent_code"], "the parent chain would form a cycle")])
        seen.add(cursor)
        parent = await get_agency(session, cursor)
        cursor = parent.parent_code if parent else None


async def create_agency(session: AsyncSession, editor: Editor, data: schemas.AgencyIn) -> Agency:
    if not (may_edit(editor, data.code) or (data.parent_code and may_edit(editor, data.parent_code))):
        require_edit(editor, data.parent_code)
    if await get_agency(session, data.code) is not None:
        raise validation_problem([field_error(["body", "code"], f"agency {data.code!r} already exists")])
    await _check_parent(session, data.code, data.parent_code)
    agency = Agency(**data.model_dump())
    session.add(agency)
    await flush_new(session, "code", f"agency {data.code!r} already exists")
    return agency


def require_move(editor: Editor, old_parent: str | None, new_parent: str | None) -> None:
    """Moving an agency in the hierarchy takes the right to edit both parents (no parent: a system admin): the
    hierarchy decides whose reports cover the agency, so its own admin must not take it out from under its parent's
    oversight, nor place it under another agency."""
    if not (may_edit(editor, old_parent) and may_edit(editor, new_parent)):
        raise ProblemError("forbidden_role", "Moving an agency under another parent takes the right to edit the "
                                             "catalogue of both its current and its new parent.")


async def update_agency(session: AsyncSession, editor: Editor, code: str, patch: schemas.AgencyPatch,
                        if_match: str | None) -> Agency:
    """Apply the patch if `if_match` names the agency's current ETag (app.core.etag), else 428/412."""
    agency = await get_agency(session, code)
    if agency is None:
        raise not_found("agency")
    require_edit(editor, code)
    check_if_match(agency.version, if_match, "agency")
    changes = patch.model_dump(exclude_unset=True)
    for key in ("name", "level", "saturday_morning"):
        if key in changes and changes[key] is None:
            raise validation_problem([field_error(["body", key], "may not be null")])
    if "parent_code" in changes and changes["parent_code"] != agency.parent_code:
        require_move(editor, agency.parent_code, changes["parent_code"])
        await _check_parent(session, code, changes["parent_code"])
    for key, value in changes.items():
        setattr(agency, key, value)
    await flush_versioned(session, agency, "agency")
    if "name" in changes:
        await refresh_search_extra(session, agency_code=code)
    return agency


# --- fields ------------------------------------------------------------------------------------------------

async def list_fields(session: AsyncSession, page: PageParams, agency: str | None = None,
                      ) -> tuple[list[Field], str | None]:
    stmt = select(Field)
    if agency is not None:
        stmt = stmt.where(Field.agency_code == agency)
    return await keyset_page(session, stmt, order=[(Field.code, False)], params=page, key=lambda f: (f.code,))


async def create_field(session: AsyncSession, editor: Editor, data: schemas.FieldIn) -> Field:
    require_edit(editor, data.agency_code)
    if await get_field(session, data.code) is not None:
        raise validation_problem([field_error(["body", "code"], f"field {data.code!r} already exists")])
    if data.agency_code is not None and await get_agency(session, data.agency_code) is None:
        raise validation_problem([field_error(["body", "agency_code"], f"unknown agency {data.agency_code!r}")])
    row = Field(**data.model_dump())
    session.add(row)
    await flush_new(session, "code", f"field {data.code!r} already exists")
    return row


async def refresh_search_extra(session: AsyncSession, *, agency_code: str | None = None,
                               field_code: str | None = None) -> None:
    """Keep the stored field/agency search words in step after a rename (one UPDATE per version)."""
    stmt = select(ProcedureVersion)
    if agency_code is not None:
        stmt = stmt.where(ProcedureVersion.agency_code == agency_code)
    if field_code is not None:
        stmt = stmt.where(ProcedureVersion.field_code == field_code)
    for version in (await session.execute(stmt)).scalars().all():
        extra = await search_extra_for(session, version.agency_code, version.field_code)
        if extra != version.search_extra:
            await session.execute(update(ProcedureVersion).where(ProcedureVersion.id == version.id)
                                  .values(search_extra=extra))


async def search_extra_for(session: AsyncSession, agency_code: str, field_code: str) -> str:
    agency = await get_agency(session, agency_code)
    field = await get_field(session, field_code)
    return search_column(field.name if field else None, agency.name if agency else None)

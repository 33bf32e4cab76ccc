"""Procedure versions: draft -> published (valid_from) -> retired (valid_to); a publication scheduled for later can
be cancelled (back to draft) until it starts; a draft can be deleted.

Publishing retires the previous published version at the new version's valid_from, in one transaction. The
procedure row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite write transactions are already
serialised by BEGIN IMMEDIATE), and a partial unique index keeps at most one published version per procedure
even if some other path forgot the lock. Likewise a procedure has at most one draft: a second one is refused (409
`conflict` naming the first), checked under the same lock and held by another partial unique index.

Version numbers are never reused (`Procedure.last_version_number`), so a draft holds the highest number when it is
copied: a version published after that (by an import, or a publication scheduled after a cancelled one) has a
higher number, and publishing the draft, which copied what was in force before it, would undo it (409
`draft_stale`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import schemas
from app.catalogue.content import check_references, content_of, resolved_content, rule_problems, write_content
from app.catalogue.models import Procedure, ProcedureVersion, VersionStatus
from app.catalogue.service import (
    Editor,
    field_error,
    flush_new,
    get_published_version,
    get_version,
    require_edit,
)
from app.core import clock
from app.core.etag import check_if_match, flush_versioned, version_tag
from app.core.outbox import emit
from app.core.problems import ProblemError, not_found, validation_problem


async def _procedure_for_update(session: AsyncSession, code: str) -> Procedure:
    stmt = select(Procedure).where(Procedure.code == code).with_for_update()
    procedure = (await session.execute(stmt)).scalar_one_or_none()
    if procedure is None:
        raise not_found("procedure")
    return procedure


def take_version_number(procedure: Procedure) -> int:
    """The next version number of `procedure` (locked by the caller): one more than any it has ever had."""
    procedure.last_version_number += 1
    return procedure.last_version_number


async def _latest(session: AsyncSession, code: str) -> ProcedureVersion | None:
    stmt = (select(ProcedureVersion).where(ProcedureVersion.procedure_code == code)
            .order_by(ProcedureVersion.version.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_draft(session: AsyncSession, code: str) -> ProcedureVersion | None:
    """The procedure's draft (there is at most one), or None."""
    stmt = select(ProcedureVersion).where(ProcedureVersion.procedure_code == code,
                                          ProcedureVersion.status == VersionStatus.draft)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _draft_number(session: AsyncSession, code: str) -> int | None:
    draft = await get_draft(session, code)
    return draft.version if draft is not None else None


def _draft_exists(number: int) -> ProblemError:
    """409 naming the procedure's draft (`extra.draft_version`, for a frontend to open it)."""
    return ProblemError("conflict", f"Version {number} is already a draft of this procedure, which has at most "
                        "one: edit and publish that draft first.", extra={"draft_version": number})


async def _refuse_a_second_draft(session: AsyncSession, code: str) -> None:
    number = await _draft_number(session, code)
    if number is not None:
        raise _draft_exists(number)


@asynccontextmanager
async def _as_the_only_draft(session: AsyncSession, code: str) -> AsyncIterator[None]:
    """Write a version that becomes `code`'s draft inside this block (flushed in a savepoint): if another draft got
    in first (the partial unique index uq_procedure_versions_one_draft, for a writer that skipped the lock), the
    same 409 as _refuse_a_second_draft. The savepoint keeps the transaction usable on PostgreSQL to name it."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError:
        number = await _draft_number(session, code)
        if number is None:
            raise
        raise _draft_exists(number) from None


async def create_procedure(session: AsyncSession, editor: Editor, data: schemas.ProcedureCreate,
                           ) -> ProcedureVersion:
    """A new procedure and its first draft (version 1)."""
    require_edit(editor, data.agency_code)
    content = resolved_content(data)
    errors = await check_references(session, content, ["body"])
    if (await session.execute(select(Procedure.id).where(Procedure.code == data.code))).first() is not None:
        errors.insert(0, field_error(["body", "code"], f"procedure {data.code!r} already exists"))
    if errors:
        raise validation_problem(errors)
    procedure = Procedure(code=data.code)
    session.add(procedure)
    await flush_new(session, "code", f"procedure {data.code!r} already exists")
    version = ProcedureVersion(procedure_code=data.code, version=take_version_number(procedure),
                               status=VersionStatus.draft)
    await write_content(session, version, content)
    session.add(version)
    await session.flush()
    return version


async def new_draft(session: AsyncSession, editor: Editor, code: str) -> ProcedureVersion:
    """A new draft copied from the version in force (or the latest one when none is); 409 `conflict` naming the
    draft the procedure already has: two editors' parallel drafts would each be published over the other's."""
    procedure = await _procedure_for_update(session, code)
    source = await get_published_version(session, code) or await _latest(session, code)
    if source is None:
        raise not_found("procedure")
    require_edit(editor, source.agency_code)
    await _refuse_a_second_draft(session, code)
    version = ProcedureVersion(procedure_code=code, version=take_version_number(procedure),
                               status=VersionStatus.draft)
    # The announcement is the source's: a new version is announced by a decision of its own, if any.
    await write_content(session, version, {**content_of(source), "announcement": None})
    async with _as_the_only_draft(session, code):
        session.add(version)
    return version


async def _editable_version(session: AsyncSession, editor: Editor, code: str, number: int) -> ProcedureVersion:
    version = await get_version(session, code, number)
    if version is None:
        raise not_found("procedure version")
    require_edit(editor, version.agency_code)
    if version.status != VersionStatus.draft:
        # Retired versions were published: they are immutable for the same reason (issue 5, "PATCH on them is
        # 409 version_published"), and one still in force until its successor's valid_from is shown published.
        raise ProblemError("version_published", f"Version {number} was published and cannot change; "
                           "create a new draft instead.")
    return version


async def patch_draft(session: AsyncSession, editor: Editor, code: str, number: int,
                      patch: schemas.VersionPatch, if_match: str | None) -> ProcedureVersion:
    """Apply the patch if `if_match` names the draft's current ETag (app.core.etag), else 428/412."""
    # The procedure's lock, as publish() takes it: otherwise an edit that read the draft just before a
    # concurrent publish committed would then write into the published version.
    await _procedure_for_update(session, code)
    version = await _editable_version(session, editor, code, number)
    check_if_match(version.revision, if_match, "procedure version")
    merged = {**content_of(version), **patch.model_dump(mode="json", exclude_unset=True)}
    try:
        content = schemas.ProcedureContent.model_validate(merged)
    except ValidationError as error:
        raise validation_problem([field_error(["body", *e["loc"]], e["msg"], e["type"])
                                  for e in error.errors()]) from error
    data = resolved_content(content)
    errors = await check_references(session, data, ["body"])
    if errors:
        raise validation_problem(errors)
    require_edit(editor, data["agency_code"])
    with session.no_autoflush:  # write_content reads names: the versioned UPDATE is flushed (and checked) below
        await write_content(session, version, data)
    await flush_versioned(session, version, "procedure version")
    return version


def version_etag(version: ProcedureVersion) -> str:
    """The ETag of /v1/procedures/{code}/versions/{n}: its optimistic-concurrency revision."""
    return version_tag(version.revision)


async def publish(session: AsyncSession, editor: Editor, code: str, number: int,
                  valid_from: datetime | None = None, *, if_match: str | None) -> ProcedureVersion:
    """Publish the draft from `valid_from` (default now) if `if_match` names its current ETag (app.core.etag), else
    428/412: checked under the procedure's lock, so the draft the editor read is the one published. In-process
    callers (seeds, fixtures) pass the tag of the version they hold, or `*` for the version as it now is."""
    procedure = await _procedure_for_update(session, code)
    version = await _editable_version(session, editor, code, number)
    check_if_match(version.revision, if_match, "procedure version")
    start = valid_from or clock.now()
    # The content as it stands: a draft copied from a version stored before a rule existed (new_draft does not
    # revalidate) is held to today's rules here, where it would start binding dossiers.
    errors = rule_problems(content_of(version), [])
    if not version.document_parts:
        errors.insert(0, field_error(["document_parts"], "a version needs at least one document part to be published"))
    if errors:
        raise validation_problem(errors)
    others = (await session.execute(select(ProcedureVersion).where(
        ProcedureVersion.procedure_code == code, ProcedureVersion.id != version.id,
        ProcedureVersion.status != VersionStatus.draft))).scalars().all()
    newer = max((v.version for v in others if v.version > version.version), default=None)
    if newer is not None:
        raise ProblemError("draft_stale", f"Version {newer} was published after this draft was copied; publishing "
                           f"the draft would undo it. Delete this draft and create a new one from version {newer}.",
                           extra={"newer_version": newer})
    current = next((v for v in others if v.status == VersionStatus.published), None)
    for other in others:
        # A new validity must start after everything already in force, or two versions would overlap.
        if (other is current and other.valid_from is not None and other.valid_from >= start) or (
                other is not current and other.valid_to is not None and other.valid_to > start):
            raise validation_problem([field_error(["body", "valid_from"],
                                                  f"overlaps the validity of version {other.version}")])
    try:
        if current is not None:
            current.status = VersionStatus.retired
            current.valid_to = start
            await session.flush()  # retire first: the partial unique index sees one published row at a time
        version.status = VersionStatus.published
        version.valid_from = start
        version.valid_to = None
        version.published_at = clock.now()
        procedure.updated_at = clock.now()
        await session.flush()
    except IntegrityError as error:
        raise ProblemError("conflict", "Another version was published at the same time; retry.") from error
    await emit(session, "procedure.published", aggregate_type="procedure", aggregate_id=procedure.id,
               payload={"code": code, "version": number, "valid_from": clock.utc_text(start),
                        "retired_version": current.version if current else None})
    return version


async def _version_to_change(session: AsyncSession, editor: Editor, code: str, number: int,
                             if_match: str | None) -> tuple[Procedure, ProcedureVersion]:
    """The procedure (locked) and its version `number`, which `editor` may change and `if_match` names."""
    procedure = await _procedure_for_update(session, code)
    version = await get_version(session, code, number)
    if version is None:
        raise not_found("procedure version")
    require_edit(editor, version.agency_code)
    check_if_match(version.revision, if_match, "procedure version")
    return procedure, version


async def retire(session: AsyncSession, editor: Editor, code: str, number: int,
                 valid_to: datetime | None = None, *, if_match: str | None) -> ProcedureVersion:
    """Withdraw the published version from `valid_to` (default now); `if_match` required, as for `publish`."""
    procedure, version = await _version_to_change(session, editor, code, number, if_match)
    if version.status == VersionStatus.retired and version.valid_to is not None and version.valid_to > clock.now():
        raise ProblemError("conflict", f"Version {number} already ends at {version.valid_to.isoformat()}, when "
                           "the version published after it takes over.")
    if version.status != VersionStatus.published:
        raise ProblemError("conflict", f"Version {number} is {version.status.value}; only a published "
                           "version can be retired.")
    end = valid_to or clock.now()
    if version.valid_from is not None and end <= version.valid_from:
        raise validation_problem([field_error(["body", "valid_to"], "must be after valid_from")])
    version.status = VersionStatus.retired
    version.valid_to = end
    procedure.updated_at = clock.now()
    await session.flush()
    await emit(session, "procedure.retired", aggregate_type="procedure", aggregate_id=procedure.id,
               payload={"code": code, "version": number, "valid_to": clock.utc_text(end)})
    return version


async def cancel(session: AsyncSession, editor: Editor, code: str, number: int, *,
                 if_match: str | None) -> ProcedureVersion:
    """Call back a publication scheduled for later: the version, never in force (so no dossier was filed under
    it), is a draft again, and the version it was to take over from (the one ending at its start) stays in force
    as it was before: until the start of the version scheduled after it, or with no end. Without this, a
    scheduled version with a mistake could only be followed by another one, and the mistake would still come
    into force for a while. Refused (409 `conflict` naming it) while the procedure has a draft: it would have two.
    If-Match required."""
    procedure, version = await _version_to_change(session, editor, code, number, if_match)
    now = clock.now()
    if version.status == VersionStatus.draft:
        raise ProblemError("conflict", f"Version {number} is a draft; there is no publication to cancel.")
    if version.valid_from is None or version.valid_from <= now:
        raise ProblemError("conflict", f"Version {number} is in force or was; only a publication scheduled for "
                           "later can be cancelled (retire a version in force instead).")
    await _refuse_a_second_draft(session, code)
    others = (await session.execute(select(ProcedureVersion).where(
        ProcedureVersion.procedure_code == code, ProcedureVersion.id != version.id,
        ProcedureVersion.status != VersionStatus.draft))).scalars().all()
    cancelled_from, end = version.valid_from, version.valid_to
    previous = next((v for v in others if v.status == VersionStatus.retired and v.valid_to == cancelled_from), None)
    # Its end is where the version scheduled after it starts, or its own retirement (nothing takes over then).
    successor = end is not None and any(v.valid_from == end for v in others)
    async with _as_the_only_draft(session, code):  # a draft first: the index sees one published row at a time
        version.status, version.valid_from, version.valid_to = VersionStatus.draft, None, None
        version.published_at = None  # never made public in force: published again, it counts from then
    if previous is not None:
        # Back as it was before the publication: until the next scheduled version, or with no end at all.
        previous.valid_to = end if successor else None
        previous.status = VersionStatus.retired if successor else VersionStatus.published
    procedure.updated_at = now
    await session.flush()
    await emit(session, "procedure.publication_cancelled", aggregate_type="procedure", aggregate_id=procedure.id,
               payload={"code": code, "version": number, "valid_from": clock.utc_text(cancelled_from),
                        "version_in_force": previous.version if previous is not None else None})
    return version


async def delete_draft(session: AsyncSession, editor: Editor, code: str, number: int, *,
                       if_match: str | None) -> None:
    """Discard the draft (If-Match required, as for a change): nothing refers to a draft, no dossier is filed under
    one. A published or retired version is history (409 `version_published`); a procedure's only version, the draft
    it was created with, stays (409 `conflict`): a procedure is never left without one. Its number is not given
    again (take_version_number)."""
    _, version = await _version_to_change(session, editor, code, number, if_match)
    if version.status != VersionStatus.draft:
        raise ProblemError("version_published", f"Version {number} was published and cannot be deleted; retire it "
                           "instead.")
    others = await session.scalar(select(func.count()).select_from(ProcedureVersion).where(
        ProcedureVersion.procedure_code == code, ProcedureVersion.id != version.id))
    if not others:
        raise ProblemError("conflict", f"Version {number} is this procedure's only version; edit it instead: a "
                           "procedure always has a version.")
    await session.delete(version)
    await session.flush()


async def list_versions(session: AsyncSession, code: str, *, include_drafts: bool = False,
                        ) -> list[ProcedureVersion]:
    """Every version, oldest first; drafts only for editors."""
    stmt = select(ProcedureVersion).where(ProcedureVersion.procedure_code == code)
    if not include_drafts:
        stmt = stmt.where(ProcedureVersion.status != VersionStatus.draft)
    versions = list((await session.execute(stmt.order_by(ProcedureVersion.version))).scalars().all())
    if not versions:
        exists = await session.scalar(select(func.count()).select_from(Procedure).where(Procedure.code == code))
        if not exists:
            raise not_found("procedure")
    return versions

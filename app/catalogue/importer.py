"""Bulk import and export of the catalogue (POST /v1/catalogue/import, `dvc catalogue import FILE`).

Import checks the whole document first (shape, duplicates, references, permissions, validity dates) and
reports every error with its JSON pointer; only a clean document is written, in the caller's transaction.
An entry whose content equals a recorded version names it (app.catalogue.import_plan.named_slot) and changes
nothing when its dates are the recorded ones or valid_from is left out, so re-importing a file is a no-op. Its
valid_to ends the published version there without a successor (a retirement); another valid_from moves a version
not yet in force to that later start, its predecessor ending there instead (a rescheduling, counted apart), and
is refused (422 on valid_from) for a version in force, whose start is history. A changed entry becomes a new
version published at its `valid_from` (default: now), retiring the previous one, and ends at its `valid_to`.

A procedure's entries are taken in document order, each from a later `valid_from`. Export writes, for each
procedure, the version in force now and those scheduled after it (a publication with a future valid_from keeps
its predecessor in force until then), so export -> import reproduces what applies now and what applies later.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.catalogue import import_plan, schemas
from app.catalogue.content import content_of, resolved_content, rule_problems, write_content
from app.catalogue.models import Agency, Field, Procedure, ProcedureVersion, VersionStatus
from app.catalogue.service import Editor, field_error, may_edit, refresh_search_extra, require_move
from app.catalogue.versions import take_version_number
from app.core import clock
from app.core.outbox import emit
from app.core.problems import ProblemError, validation_problem


def parse_document(raw: Any) -> schemas.CatalogueDocument:
    try:
        return schemas.CatalogueDocument.model_validate(raw)
    except ValidationError as error:
        raise validation_problem([field_error(["body", *e["loc"]], e["msg"], e["type"]) for e in error.errors()],
                                 "The catalogue document has invalid entries; nothing was imported.") from error


def _duplicates(entries: list[Any], section: str) -> list[dict[str, Any]]:
    seen: set[str] = set()
    errors = []
    for i, entry in enumerate(entries):
        if entry.code in seen:
            errors.append(field_error(["body", section, i, "code"], f"code {entry.code!r} appears twice"))
        seen.add(entry.code)
    return errors


async def _existing(session: AsyncSession) -> tuple[dict[str, Agency], dict[str, Field]]:
    agencies = {a.code: a for a in (await session.execute(select(Agency))).scalars()}
    fields = {f.code: f for f in (await session.execute(select(Field))).scalars()}
    return agencies, fields


async def _owners(session: AsyncSession, doc: schemas.CatalogueDocument, fields: dict[str, Field],
                  ) -> set[str | None]:
    """The agencies that own what the document would change: an existing field's agency, and an existing
    procedure's (its published version's, else its latest version's). Without them an agency admin could move
    another agency's field or procedure into its own agency by importing it under its own code."""
    owners: set[str | None] = {fields[f.code].agency_code for f in doc.fields if f.code in fields}
    codes = {p.code for p in doc.procedures}
    if not codes:
        return owners
    rows = (await session.execute(select(ProcedureVersion.procedure_code, ProcedureVersion.agency_code,
                                         ProcedureVersion.status)
                                  .where(ProcedureVersion.procedure_code.in_(codes))
                                  .order_by(ProcedureVersion.version))).all()
    latest: dict[str, str] = {}
    published: dict[str, str] = {}
    for code, agency_code, status in rows:  # oldest first: the latest wins, unless a version is published
        latest[code] = agency_code
        if status == VersionStatus.published:
            published[code] = agency_code
    return owners | set((latest | published).values())


def _check_permissions(editor: Editor, doc: schemas.CatalogueDocument, owners: set[str | None],
                       agencies: dict[str, Agency]) -> None:
    codes = {a.code for a in doc.agencies} | {f.agency_code for f in doc.fields} | {
        p.agency_code for p in doc.procedures} | owners
    denied = sorted(str(c) for c in codes if not may_edit(editor, c))
    if denied:
        raise ProblemError("forbidden_role", f"You may not edit the catalogue of: {', '.join(denied)}.")
    for entry in doc.agencies:  # an agency moved to another parent: as PATCH /v1/agencies/{code}
        existing = agencies.get(entry.code)
        if existing is not None and existing.parent_code != entry.parent_code:
            require_move(editor, existing.parent_code, entry.parent_code)


def _parent_cycles(agencies: dict[str, Agency], entries: list[schemas.AgencyIn]) -> list[dict[str, Any]]:
    """Parent chains, as the document would leave them, must end (the API refuses a cycle too; here one was a
    foreign-key error on apply: a 500)."""
    parent: dict[str, str | None] = {code: a.parent_code for code, a in agencies.items()}
    parent |= {a.code: a.parent_code for a in entries}
    errors = []
    for i, entry in enumerate(entries):
        seen = {entry.code}
        cursor = entry.parent_code
        while cursor is not None and cursor not in seen:
            seen.add(cursor)
            cursor = parent.get(cursor)
        if cursor is not None:
            errors.append(field_error(["body", "agencies", i, "parent_code"], "the parent chain would form a cycle"))
    return errors


async def validate(session: AsyncSession, editor: Editor | None, doc: schemas.CatalogueDocument,
                   ) -> list[dict[str, Any]]:
    """Every problem of the document against the current catalogue (empty: safe to apply)."""
    agencies, fields = await _existing(session)
    versions = await _versions(session, doc)
    if editor is not None:
        _check_permissions(editor, doc, await _owners(session, doc, fields), agencies)
    errors = _duplicates(doc.agencies, "agencies") + _duplicates(doc.fields, "fields")
    repeated = import_plan.repeated_codes(doc.procedures)
    errors += repeated
    out_of_order = {e["loc"][2] for e in repeated}
    agency_codes = set(agencies) | {a.code for a in doc.agencies}
    errors += _parent_cycles(agencies, doc.agencies)
    field_scope = {code: f.agency_code for code, f in fields.items()} | {f.code: f.agency_code for f in doc.fields}
    for i, agency in enumerate(doc.agencies):
        if agency.parent_code and agency.parent_code not in agency_codes:
            errors.append(field_error(["body", "agencies", i, "parent_code"], f"unknown agency {agency.parent_code!r}"))
    for i, f in enumerate(doc.fields):
        if f.agency_code and f.agency_code not in agency_codes:
            errors.append(field_error(["body", "fields", i, "agency_code"], f"unknown agency {f.agency_code!r}"))
    placed = import_plan.DocumentPlan.of(doc.procedures, versions, clock.now())
    for i, entry in enumerate(doc.procedures):
        loc: list[str | int] = ["body", "procedures", i]
        if entry.agency_code not in agency_codes:
            errors.append(field_error([*loc, "agency_code"], f"unknown agency {entry.agency_code!r}"))
        if entry.field_code not in field_scope:
            errors.append(field_error([*loc, "field_code"], f"unknown field {entry.field_code!r}"))
        elif entry.agency_code in agency_codes and field_scope[entry.field_code] not in (None, entry.agency_code):
            owner = field_scope[entry.field_code]
            errors.append(field_error([*loc, "field_code"], f"field {entry.field_code!r} belongs to agency {owner!r}"))
        if not entry.document_parts:
            errors.append(field_error([*loc, "document_parts"], "a published procedure needs document parts"))
        content = resolved_content(entry)
        if i in out_of_order:
            errors += rule_problems(content, loc)
            placed.skip(i)  # its validity is not placed: the error above says why
            continue
        step = placed.plan(i, content)
        if not (isinstance(step, import_plan.Step) and step.slot is not None):
            # Rules for new content; a version already recorded with this very content (the entry leaves it as it
            # is, retires or reschedules it) is history, even one stored before a rule existed: an export of this
            # catalogue imports back.
            errors += rule_problems(content, loc)
        if isinstance(step, import_plan.Refused):
            errors.append(field_error([*loc, step.field], step.msg))
        else:
            placed.advance(i, step, content)
    errors += [field_error(["body", "procedures", i, refused.field], refused.msg)
               for i, refused in placed.unmet_ends()]
    return errors


def _parents_first(entries: list[schemas.AgencyIn]) -> list[schemas.AgencyIn]:
    by_code = {a.code: a for a in entries}
    ordered: list[schemas.AgencyIn] = []
    placed: set[str] = set()

    def place(agency: schemas.AgencyIn, depth: int = 0) -> None:
        if agency.code in placed or depth > len(entries):
            return
        if agency.parent_code in by_code:
            place(by_code[agency.parent_code], depth + 1)
        placed.add(agency.code)
        ordered.append(agency)

    for agency in entries:
        place(agency)
    return ordered


async def apply(session: AsyncSession, doc: schemas.CatalogueDocument) -> schemas.ImportSummary:
    """Write a validated document (call validate() first, in the same transaction)."""
    summary = schemas.ImportSummary()
    agencies, fields = await _existing(session)
    for entry in _parents_first(doc.agencies):
        data = entry.model_dump()
        agency = agencies.get(entry.code)
        if agency is None:
            session.add(Agency(**data))
            summary.agencies_created += 1
            await session.flush()  # children reference it by foreign key
        elif any(getattr(agency, k) != v for k, v in data.items()):
            renamed = agency.name != entry.name
            for k, v in data.items():
                setattr(agency, k, v)
            summary.agencies_updated += 1
            if renamed:
                await session.flush()
                await refresh_search_extra(session, agency_code=entry.code)
    for f in doc.fields:
        existing = fields.get(f.code)
        if existing is None:
            session.add(Field(**f.model_dump()))
            summary.fields_created += 1
        elif existing.name != f.name or existing.agency_code != f.agency_code:
            renamed = existing.name != f.name
            existing.name, existing.agency_code = f.name, f.agency_code
            summary.fields_updated += 1
            if renamed:
                await session.flush()
                await refresh_search_extra(session, field_code=f.code)
    await session.flush()
    placed = import_plan.DocumentPlan.of(doc.procedures, await _versions(session, doc, lock=True), clock.now())
    for i in range(len(doc.procedures)):
        await _apply_procedure(session, placed, i, summary)
    if placed.unmet_ends():  # validate() found none, so a version changed meanwhile
        raise _changed_meanwhile()
    return summary


async def _versions(session: AsyncSession, doc: schemas.CatalogueDocument, *, lock: bool = False,
                    ) -> dict[str, list[ProcedureVersion]]:
    """The non-draft versions of the procedures the document names. With `lock` (apply()), the procedures are
    locked first (in code order: two imports never wait on each other crosswise) and the versions read afresh:
    a version published since validate() read them (its publisher locks the procedure too) is then planned
    against, and the entry it overlaps refused (409) instead of written beside it. A version an entry writes with
    an end (`valid_to`) is stored retired, so no unique index would catch that overlap."""
    codes = sorted({entry.code for entry in doc.procedures})
    stmt = (select(ProcedureVersion).where(ProcedureVersion.procedure_code.in_(codes),
                                           ProcedureVersion.status != VersionStatus.draft)
            .order_by(ProcedureVersion.procedure_code, ProcedureVersion.version))
    if lock:
        await session.execute(select(Procedure.code).where(Procedure.code.in_(codes)).order_by(Procedure.code)
                              .with_for_update())
        stmt = stmt.execution_options(populate_existing=True)
    found: dict[str, list[ProcedureVersion]] = {}
    for version in (await session.execute(stmt)).scalars():
        found.setdefault(version.procedure_code, []).append(version)
    return found


def _changed_meanwhile() -> ProblemError:
    return ProblemError("conflict", "The catalogue changed during the import; nothing was imported. Run it again.")


async def _apply_procedure(session: AsyncSession, placed: import_plan.DocumentPlan, index: int,
                           summary: schemas.ImportSummary) -> None:
    entry = placed.entries[index]
    data = resolved_content(entry)
    step = placed.plan(index, data)
    if isinstance(step, import_plan.Refused):  # validate() passed, so a version was published meanwhile
        raise _changed_meanwhile()
    if step.action == "unchanged":
        placed.advance(index, step, data)
        summary.unchanged += 1
        return
    procedure = (await session.execute(select(Procedure).where(Procedure.code == entry.code).with_for_update()
                                       .execution_options(populate_existing=True))).scalar_one_or_none()
    if procedure is None:
        procedure = Procedure(code=entry.code)
        session.add(procedure)
        await session.flush()
        summary.procedures_created += 1
    if step.action == "reschedule":
        await _reschedule(session, procedure, placed, index, step, data, summary)
        return
    timeline = placed.timeline(index)
    current = import_plan.published_slot(timeline)
    retiring = current.row if current is not None else None
    slot = placed.advance(index, step, data)
    if current is not None and retiring is not None:
        retiring.status, retiring.valid_to = VersionStatus.retired, current.valid_to
        await session.flush()  # retire first: the partial unique index sees one published row at a time
    if step.action == "retire":  # the published version itself ends, with no successor
        await _retired(session, procedure, summary, retiring)
        return
    version = ProcedureVersion(procedure_code=entry.code, version=take_version_number(procedure),
                               status=VersionStatus.published, valid_from=step.start, valid_to=step.end,
                               published_at=clock.now())
    if step.end is not None:
        version.status = VersionStatus.retired
    await write_content(session, version, data)
    session.add(version)
    await session.flush()
    slot.row = version
    summary.versions_published += 1
    await emit(session, "procedure.published", aggregate_type="procedure", aggregate_id=procedure.id,
               payload={"code": entry.code, "version": version.version, "valid_from": clock.utc_text(step.start),
                        "retired_version": retiring.version if retiring else None})
    if step.end is not None:
        await _retired(session, procedure, summary, version)


async def _reschedule(session: AsyncSession, procedure: Procedure, placed: import_plan.DocumentPlan, index: int,
                      step: import_plan.Step, data: dict[str, Any], summary: schemas.ImportSummary) -> None:
    """Move a version not yet in force to its entry's new valid_from; the version it takes over from (the event's
    `previous_version`) now ends there, as publishing it there would have ended it, and an entry's valid_to ends
    it, as a retirement does. The event keeps the start it had: the schedule, unlike history, may change."""
    assert step.slot is not None and step.slot.row is not None  # a recorded version: stored, or written above
    version, moved_from = step.slot.row, step.slot.valid_from
    before = import_plan.taken_over(placed.timeline(index), step.slot)
    placed.advance(index, step, data)
    if before is not None and before.row is not None:
        before.row.valid_to = before.valid_to
    version.valid_from = step.slot.valid_from
    if step.end is not None:
        version.status, version.valid_to = VersionStatus.retired, step.slot.valid_to
    await session.flush()
    summary.versions_rescheduled += 1
    previous = before.row.version if before is not None and before.row is not None else None
    await emit(session, "procedure.rescheduled", aggregate_type="procedure", aggregate_id=procedure.id,
               payload={"code": procedure.code, "version": version.version,
                        "valid_from": clock.utc_text(version.valid_from),
                        "previous_valid_from": clock.utc_text(moved_from), "previous_version": previous})
    if step.end is not None:
        await _retired(session, procedure, summary, version)


async def _retired(session: AsyncSession, procedure: Procedure, summary: schemas.ImportSummary,
                   version: ProcedureVersion | None) -> None:
    """Count and announce a version ended without a successor, as versions.retire() announces it."""
    assert version is not None  # a retire step always names the published version
    summary.versions_retired += 1
    await emit(session, "procedure.retired", aggregate_type="procedure", aggregate_id=procedure.id,
               payload={"code": procedure.code, "version": version.version,
                        "valid_to": clock.utc_text(version.valid_to)})


async def import_document(session: AsyncSession, editor: Editor | None, raw: Any) -> schemas.ImportSummary:
    """Validate everything, then write; `editor=None` is the trusted CLI."""
    doc = parse_document(raw)
    errors = await validate(session, editor, doc)
    if errors:
        raise validation_problem(errors, f"{len(errors)} error(s) in the catalogue document; nothing was imported.")
    try:
        return await apply(session, doc)
    # An agency or version read above was changed meanwhile (app.core.etag), or a row validation found missing
    # was created meanwhile (an agency or procedure code, a first publication): either way, a race to retry.
    except (StaleDataError, IntegrityError) as error:
        raise ProblemError("conflict", "The catalogue changed during the import; nothing was imported. "
                           "Run it again.") from error


async def export_document(session: AsyncSession) -> schemas.CatalogueDocument:
    """Agencies, fields and, per procedure, every version not ended by now, oldest first: the one in force (a
    retired version stays in force until its valid_to) and the ones scheduled after it. A valid_to is written only
    where no next entry takes over then (a version retired ahead of time)."""
    agencies = (await session.execute(select(Agency).order_by(Agency.code))).scalars().all()
    fields = (await session.execute(select(Field).order_by(Field.code))).scalars().all()
    not_ended = (await session.execute(select(ProcedureVersion).where(
        ProcedureVersion.status != VersionStatus.draft,
        or_(ProcedureVersion.valid_to.is_(None), ProcedureVersion.valid_to > clock.now()))
        .order_by(ProcedureVersion.procedure_code, ProcedureVersion.valid_from, ProcedureVersion.version)
    )).scalars().all()
    procedures = []
    for i, v in enumerate(not_ended):
        following = not_ended[i + 1] if i + 1 < len(not_ended) else None
        taken_over = (following is not None and following.procedure_code == v.procedure_code
                      and following.valid_from == v.valid_to)
        procedures.append(schemas.ImportProcedure(code=v.procedure_code, valid_from=v.valid_from,
                                                  valid_to=None if taken_over else v.valid_to, **content_of(v)))
    agency_models = _parents_first([schemas.AgencyIn.model_validate(a, from_attributes=True) for a in agencies])
    return schemas.CatalogueDocument(
        agencies=agency_models,
        fields=[schemas.FieldIn.model_validate(f, from_attributes=True) for f in fields],
        procedures=procedures,
    )

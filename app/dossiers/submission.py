"""Filing a dossier: drafts (online, or desk/post intake by reception), edits, and the submit step.

Submit is one transaction: every required document part present, form valid, code assigned from the
per-agency per-day counter, state `submitted` (national code 1), outbox `dossier.submitted`. Any failure
rolls all of it back, including the code's sequence number.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import service as catalogue
from app.catalogue.models import ProcedureVersion
from app.core import clock
from app.core.db import field_reader
from app.core.direct import DirectConnection, DirectStatement
from app.core.etag import check_if_match
from app.core.outbox import emit
from app.core.problems import ProblemError, not_found, validation_problem
from app.dossiers import schemas
from app.dossiers.access import Viewer, lock_dossier, may_edit_draft, require_draft
from app.dossiers.codes import next_dossier_code
from app.dossiers.formcheck import form_errors, normalised_form
from app.dossiers.models import NATIONAL_STATUS_CODES, Attachment, Dossier, DossierState, Source
from app.identity import service as identity
from app.identity.deps import Principal
from app.identity.models import Account
from app.workflow.history import record_submission


async def _published(session: AsyncSession, procedure_code: str) -> tuple[ProcedureVersion, str | None]:
    """The version a new dossier is filed under, and its agency's name."""
    found = await catalogue.get_published_version_and_agency_name(session, procedure_code)
    if found is None:
        raise _not_published()
    return found


def _not_published() -> ProblemError:
    return validation_problem([{"loc": ["body", "procedure_code"],
                                "msg": "no published procedure with this code", "type": "not_published"}])


def _check_offer(version: ProcedureVersion | Mapping[str, Any], channel: str, applicant_kind: str) -> None:
    term = field_reader(version)  # the ORM version, or the row of `catalogue.filing_terms`
    channels, kinds = term("channels") or [], term("applicant_kinds") or []
    errors = []
    if channel not in channels:
        errors.append({"loc": ["body", "channel"], "msg": f"this procedure is not offered by {channel}; "
                       f"channels: {', '.join(channels)}", "type": "channel_not_offered"})
    if applicant_kind not in kinds:
        errors.append({"loc": ["body", "procedure_code"],
                       "msg": f"this procedure is not for {applicant_kind} applicants", "type": "applicant_kind"})
    if errors:
        raise validation_problem(errors)


def _check_form(version: ProcedureVersion | Mapping[str, Any], form: dict[str, Any], *,
                draft: bool = False) -> dict[str, Any]:
    """The form as it is stored (app.dossiers.formcheck.normalised_form), or 422 listing each failing field. A
    draft is saved as it is filled: its required fields may still be missing (a portal creates the draft when the
    procedure is chosen, and saves the form as it goes), and are checked at submit."""
    schema = field_reader(version)("form_schema")
    errors = form_errors(schema, form, partial=draft)
    if errors:
        raise validation_problem(errors, "The form has invalid fields.")
    return normalised_form(schema, form)


def _check_delivery(method: str, address: str | None, applicant_id: uuid.UUID | None) -> None:
    """What a delivery must hold, checked on the values as they will be stored (a PATCH merges first)."""
    errors: list[dict[str, Any]] = []
    if method == "post" and not address:
        errors.append({"loc": ["body", "delivery", "address"], **schemas.POSTAL_ADDRESS_MISSING})
    if method == "online" and applicant_id is None:  # desk/post intake for someone with no account
        errors.append({"loc": ["body", "delivery", "method"], "type": "online_delivery_needs_account",
                       "msg": "online delivery needs the applicant's registered account; this applicant has none, "
                              "so choose desk or post"})
    if errors:
        raise validation_problem(errors)


def _merged_delivery(dossier: Dossier, patch: schemas.DeliveryPatch) -> tuple[str, str | None]:
    """The draft's delivery after `patch`: what the patch leaves out stays as stored, except that moving away
    from post without a new address drops the postal one (notices would print it beside the new method)."""
    method = patch.method or dossier.delivery_method
    if "address" in patch.model_fields_set:
        return method, patch.address
    if method != dossier.delivery_method and method != "post":
        return method, None
    return method, dossier.delivery_address


def _draft_row(version: ProcedureVersion | Mapping[str, Any], agency_name: str | None,
               **values: Any) -> dict[str, Any]:
    """Every column of a new draft filed under `version`: what is not given is empty, or a fresh id and time."""
    term, now = field_reader(version), clock.now()
    return {"id": uuid.uuid4(), "code": None, "procedure_code": term("procedure_code"),
            "procedure_version": term("version"), "procedure_name": term("name"), "agency_code": term("agency_code"),
            "agency_name": agency_name or term("agency_code"), "actor_id": None, "actor_kind": None,
            "actor_name": None, "contact_email": None, "contact_phone": None, "form": {},
            "state": DossierState.draft.value, "national_status_code": None, "created_at": now, "updated_at": now,
            "submitted_at": None, "received_at": None, "due_at": None, "finished_at": None, "version": 1,
            "submitter_issuer": None, "submitter_acr": None, **values}


async def _new_dossier(session: AsyncSession, version: ProcedureVersion, agency_name: str | None,
                       **values: Any) -> Dossier:
    dossier = Dossier(**_draft_row(version, agency_name, **values))
    session.add(dossier)
    await session.flush()
    return dossier


# Every column of a new dossier row, each a parameter: a column added to the table without a value here fails
# the insert loudly (DirectStatement wants every parameter), instead of quietly taking NULL.
_INSERT_DOSSIER = DirectStatement(insert(Dossier).values(
    {column.key: bindparam(column.key) for column in Dossier.__table__.columns}))


async def create_draft(connection: DirectConnection, viewer: Viewer, data: schemas.DossierCreate) -> dict[str, Any]:
    """An applicant's draft, pinned to the procedure's published version: checked, then one INSERT on the
    caller's direct connection (no ORM: this is the busiest write of the portal), in the caller's transaction
    when there is one; returns the row as written."""
    principal = viewer.principal
    if not principal.is_applicant or viewer.applicant_id is None:
        raise ProblemError("forbidden_role", "Only citizen and organisation accounts file dossiers online.")
    terms = await catalogue.filing_terms(connection, data.procedure_code)
    if terms is None:
        raise _not_published()
    on_behalf = viewer.applicant_id != principal.account_id
    applicant = await identity.party_of(connection, viewer.applicant_id) if on_behalf else None
    applicant_kind = str(applicant["kind"]) if applicant else principal.kind
    _check_offer(terms, data.channel, applicant_kind)
    form = _check_form(terms, data.form, draft=True)
    row = _draft_row(
        terms, terms["agency_name"],
        applicant_id=viewer.applicant_id, applicant_kind=applicant_kind,
        applicant_name=applicant["name"] if applicant else principal.name,
        applicant_citizen_id=applicant["citizen_id"] if applicant else principal.citizen_id,
        applicant_tax_code=applicant["tax_code"] if applicant else principal.tax_code,
        actor_id=principal.account_id if on_behalf else None, actor_kind=principal.kind if on_behalf else None,
        actor_name=principal.name if on_behalf else None,
        channel=data.channel, source=Source.online.value, delivery_method=data.delivery.method,
        delivery_address=data.delivery.address, form=form)
    await connection.execute(_INSERT_DOSSIER, **row)
    return row


async def _find_applicant(session: AsyncSession, citizen_id: str | None, tax_code: str | None) -> Account | None:
    """The registered account with this CCCD or tax code, if any (read-only; identity has no such lookup yet)."""
    column = Account.citizen_id if citizen_id else Account.tax_code
    return (await session.execute(select(Account).where(column == (citizen_id or tax_code)))).scalar_one_or_none()


async def create_intake(session: AsyncSession, viewer: Viewer, data: schemas.DossierIntake) -> Dossier:
    """A desk or postal dossier registered by a reception official of the procedure's agency."""
    version, agency_name = await _published(session, data.procedure_code)
    if not viewer.official_at(version.agency_code, "reception"):
        raise ProblemError("forbidden_role", "Only reception officials of the procedure's agency register dossiers.")
    kind = "citizen" if data.applicant.citizen_id else "organisation"
    _check_offer(version, data.channel, kind)
    form = _check_form(version, data.form, draft=True)  # filed at once (`submit`): checked whole there
    account = await _find_applicant(session, data.applicant.citizen_id, data.applicant.tax_code)
    _check_delivery(data.delivery.method, data.delivery.address, account.id if account else None)
    principal = viewer.principal
    contact = data.contact or schemas.Contact()
    dossier = await _new_dossier(
        session, version, agency_name,
        applicant_id=account.id if account else None, applicant_kind=kind,
        applicant_name=data.applicant.name, applicant_citizen_id=data.applicant.citizen_id,
        applicant_tax_code=data.applicant.tax_code,
        actor_id=principal.account_id, actor_kind=principal.kind, actor_name=principal.name,
        channel=data.channel, source=data.channel, delivery_method=data.delivery.method,
        delivery_address=data.delivery.address, form=form,
        contact_email=contact.email or (account.email if account else None),
        contact_phone=contact.phone or (account.phone if account else None))
    if data.submit:
        return (await _submit_locked(session, dossier, principal))[0]
    return dossier


async def editable_draft(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID) -> Dossier:
    """Visible (404), locked, a draft (409) and editable by this caller (404: others' drafts are invisible)."""
    dossier = await lock_dossier(session, dossier_id, viewer)
    if not may_edit_draft(viewer, dossier):
        if dossier.state == DossierState.draft:
            raise not_found("dossier")
        raise ProblemError("dossier_not_draft", f"The dossier is {dossier.state}; only drafts can be changed.")
    require_draft(dossier)
    return dossier


async def update_draft(session: AsyncSession, dossier: Dossier, patch: schemas.DossierPatch) -> Dossier:
    version = await _pinned(session, dossier)
    if patch.channel is not None and patch.channel != dossier.channel:
        if dossier.source != Source.online and patch.channel == "online":  # intake is for desk and post only
            raise validation_problem([{"loc": ["body", "channel"], "type": "channel_not_offered",
                                       "msg": "a dossier registered at the desk or by post stays desk or post"}])
        _check_offer(version, patch.channel, dossier.applicant_kind)
        dossier.channel = patch.channel
    if patch.delivery is not None:
        method, address = _merged_delivery(dossier, patch.delivery)
        _check_delivery(method, address, dossier.applicant_id)
        dossier.delivery_method, dossier.delivery_address = method, address
    if patch.form is not None:
        dossier.form = _check_form(version, patch.form, draft=True)
    await session.flush()
    return dossier


async def delete_draft(session: AsyncSession, dossier: Dossier) -> None:
    """Removes the row and its attachment rows; unreferenced files go with `dvc storage gc`."""
    await session.delete(dossier)
    await session.flush()


async def _pinned(session: AsyncSession, dossier: Dossier) -> ProcedureVersion:
    version = await catalogue.get_version(session, dossier.procedure_code, dossier.procedure_version)
    if version is None:  # versions are history and never deleted; this is a broken database
        raise RuntimeError(f"pinned version {dossier.procedure_code} v{dossier.procedure_version} is gone")
    return version


_PARTS_PRESENT = select(Attachment.part).where(Attachment.dossier_id == bindparam("dossier_id")).distinct()


async def missing_parts(session: AsyncSession, dossier: Dossier, version: ProcedureVersion) -> list[dict[str, Any]]:
    present = set((await session.execute(_PARTS_PRESENT, {"dossier_id": dossier.id})).scalars())
    return [part for part in (version.document_parts or [])
            if part.get("required", True) and part["key"] not in present]


async def submit(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID,
                 if_match: str | None = None) -> tuple[Dossier, ProcedureVersion]:
    """The draft filed, with the version it is pinned to."""
    dossier = await editable_draft(session, viewer, dossier_id)
    if if_match is not None:  # optional here: checked, under the draft's lock, only when sent
        check_if_match(dossier.version, if_match, "dossier")
    return await _submit_locked(session, dossier, viewer.principal)


async def _withdrawn(session: AsyncSession, dossier: Dossier, version: ProcedureVersion,
                     now: datetime) -> ProblemError | None:
    """409 `draft_stale` when the draft's version has ended and no version of the procedure is in force: the
    procedure was withdrawn from the catalogue, and a dossier filed for it would ask the agency to process a
    procedure it no longer offers. A version replaced by a newer one still files (the draft is held to the version
    it was started under, as its documents were gathered for it)."""
    if not catalogue.has_ended(version, now) or await catalogue.get_published_version(
            session, dossier.procedure_code) is not None:
        return None
    return ProblemError("draft_stale", f"Procedure {dossier.procedure_code} is no longer offered: version "
                        f"{dossier.procedure_version}, which this draft follows, ended and no version is in force; "
                        "the draft cannot be submitted.", extra={"procedure_version": dossier.procedure_version})


async def _submit_locked(session: AsyncSession, dossier: Dossier,
                         actor: Principal) -> tuple[Dossier, ProcedureVersion]:
    version = await _pinned(session, dossier)
    now = clock.now()
    if (withdrawn := await _withdrawn(session, dossier, version, now)) is not None:
        raise withdrawn
    missing = await missing_parts(session, dossier, version)
    if missing:
        # The form's problems are listed with the missing parts: one answer tells the applicant everything to do.
        raise ProblemError(
            "documents_missing", "Every required document part must be attached before submitting (the form's "
            "problems, if any, are listed too).",
            errors=[*({"loc": ["body", "attachments", p["key"]], "msg": f"missing: {p.get('name', p['key'])}",
                       "type": "missing"} for p in missing),
                    *form_errors(field_reader(version)("form_schema"), dossier.form)],
            extra={"missing": [p["key"] for p in missing]})
    form = _check_form(version, dossier.form)
    if any(type(value) is not type(dossier.form[name]) for name, value in form.items()):
        dossier.form = form  # a draft saved before integers were stored as such
    dossier.code = await next_dossier_code(session, dossier.agency_code, now)
    dossier.state = DossierState.submitted.value
    dossier.national_status_code = NATIONAL_STATUS_CODES["submitted"]
    dossier.submitted_at = now
    if actor.is_applicant:  # the applicant's own login (or their representative's); not an official's or client's
        dossier.submitter_issuer, dossier.submitter_acr = actor.issuer, actor.acr
    await session.flush()
    first = record_submission(session, dossier, actor)  # the first entry of the dossier's history
    await emit(session, "dossier.submitted", aggregate_type="dossier", aggregate_id=dossier.id, payload={
        "id": str(dossier.id), "dossier_id": str(dossier.id), "code": dossier.code,
        "procedure_code": dossier.procedure_code, "procedure_version": dossier.procedure_version,
        "agency_code": dossier.agency_code,
        "channel": dossier.channel, "source": dossier.source, "state": dossier.state,
        "national_status_code": dossier.national_status_code,
        "applicant_id": str(dossier.applicant_id) if dossier.applicant_id else None,
        "submitted_at": clock.utc_text(now), "history_seq": first.seq})
    return dossier, version


async def create_forwarded(session: AsyncSession, actor: Principal, version: ProcedureVersion, *,
                           applicant: schemas.IntakeApplicant, form: dict[str, Any], source: str,
                           contact_email: str | None, contact_phone: str | None,
                           attach: Callable[[Dossier], Awaitable[None]]) -> Dossier:
    """A dossier filed elsewhere (the national portal) and forwarded by `actor`: created and submitted in the
    caller's transaction through the same checks, code sequence, history entry and outbox event as an online
    submission. `attach` adds the attachment rows before the required parts are checked."""
    kind = "citizen" if applicant.citizen_id else "organisation"
    _check_offer(version, "online", kind)
    form = _check_form(version, form)
    account = await _find_applicant(session, applicant.citizen_id, applicant.tax_code)
    agency = await catalogue.get_agency(session, version.agency_code)
    dossier = await _new_dossier(
        session, version, agency.name if agency else None,
        applicant_id=account.id if account else None, applicant_kind=kind, applicant_name=applicant.name,
        applicant_citizen_id=applicant.citizen_id, applicant_tax_code=applicant.tax_code,
        actor_id=actor.account_id, actor_kind=actor.kind, actor_name=actor.name,
        channel="online", source=source, delivery_method="online", delivery_address=None, form=form,
        contact_email=contact_email or (account.email if account else None),
        contact_phone=contact_phone or (account.phone if account else None))
    await attach(dossier)
    return (await _submit_locked(session, dossier, actor))[0]

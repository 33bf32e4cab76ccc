"""Attachments: who may add which files when, and the order of writes that keeps files and rows consistent.

Order: check visibility and state (short read), stream the body to a staging file (no transaction open, so a
slow 100 MiB upload never holds SQLite's write lock), then one write transaction re-checks the state under
the dossier's lock, places the file (fsync + rename) and inserts the row. Any failure before the rename
removes the staging file; a crash after it leaves an unreferenced file for `dvc storage gc`.

Adding or deleting a file bumps the dossier's version (its ETag) in the transaction that writes the row: a
co-worker's `If-Match` on submit or on a transition, read before the file changed, is then 412, not an action
taken on files they never saw.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, and_, delete, false, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.catalogue import service as catalogue
from app.catalogue.models import ProcedureVersion
from app.core import clock
from app.core.db import get_database
from app.core.etag import flush_versioned
from app.core.idempotency import Idempotency
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found, validation_problem
from app.core.settings import get_settings
from app.dossiers.access import Viewer, get_dossier_for, lock_dossier, may_edit_draft
from app.dossiers.models import Attachment, AttachmentKind, Dossier, DossierState
from app.dossiers.schemas import AttachmentOut
from app.dossiers.storage import BlobStore, get_store
from app.dossiers.submission import editable_draft
from app.dossiers.uploads import DEFAULT_PART_MAX_BYTES, PartResolver, PartRule, receive_upload
from app.workflow.history import issued_result_ids, supplied_ids

RESULT_PART = "result"
RESULT_MEDIA_TYPES = frozenset({"application/pdf", "application/xml", "application/zip"})


def upload_kind(viewer: Viewer, dossier: Dossier) -> AttachmentKind:
    """What this caller may attach now; 409 `attachments_closed` otherwise."""
    if dossier.state == DossierState.draft and may_edit_draft(viewer, dossier):
        return AttachmentKind.document
    if dossier.state == DossierState.supplement_requested and (
            (viewer.principal.is_applicant and dossier.applicant_id == viewer.applicant_id)
            or viewer.official_at(dossier.agency_code, "reception")):
        return AttachmentKind.supplement
    if dossier.state == DossierState.processing and viewer.official_at(dossier.agency_code, "approval"):
        return AttachmentKind.result
    raise ProblemError("attachments_closed", f"Files cannot be attached to this dossier now ({dossier.state}).")


async def check_room(session: AsyncSession, dossier_id: uuid.UUID, kind: AttachmentKind) -> None:
    """409 `attachment_limit_reached` when the dossier holds DVC_MAX_ATTACHMENTS_PER_DOSSIER files of this kind
    already. Counted per kind: the applicant's documents (deletable only while a draft) must never leave no room
    for the supplement the agency asks for, nor for the result file it issues."""
    limit = get_settings().max_attachments_per_dossier
    held = (await session.execute(select(func.count()).where(
        Attachment.dossier_id == dossier_id, Attachment.kind == kind.value))).scalar_one()
    if held >= limit:
        raise ProblemError("attachment_limit_reached",
                           f"The dossier holds {held} {kind.value} files, the most it may hold ({limit}).",
                           extra={"limit": limit})


def part_resolver(version: ProcedureVersion, kind: AttachmentKind) -> PartResolver:
    if kind == AttachmentKind.result:
        rules = {RESULT_PART: PartRule(DEFAULT_PART_MAX_BYTES, RESULT_MEDIA_TYPES)}
    else:
        rules = {p["key"]: PartRule(int(p.get("max_bytes") or DEFAULT_PART_MAX_BYTES),
                                    frozenset(p.get("media_types") or ()))
                 for p in (version.document_parts or [])}

    def resolve(key: str) -> PartRule:
        rule = rules.get(key)
        if rule is None:
            raise validation_problem([{"loc": ["body", "part"], "type": "unknown_part",
                                       "msg": f"unknown document part; expected one of {sorted(rules)}"}])
        return rule

    return resolve


def _any_part(key: str) -> PartRule:
    return PartRule(get_settings().max_upload_bytes)


async def add_attachment(viewer: Viewer, dossier_id: uuid.UUID, request: Request, idem: Idempotency,
                         store: BlobStore | None = None) -> JSONResponse:
    """The 201 answer, stored for `Idempotency-Key` replays in the transaction that writes the row: a client
    retrying an upload whose answer it lost gets that answer again, not a second copy of the file, even when
    the dossier has moved on since (submitted, or a deleted draft)."""
    store = store or get_store()
    database = get_database()
    scope = str(viewer.account_id)
    refused: ProblemError | None = None
    resolver: PartResolver
    async with database.read_sessions() as session:
        try:
            dossier = await get_dossier_for(session, viewer, dossier_id)
            kind = upload_kind(viewer, dossier)
        except ProblemError as error:
            if not await idem.answered_before(scope):
                raise
            refused = error  # refused now; the body decides whether it is the retry of an upload that landed
            resolver = _any_part  # read under the global cap only: it is a replay, or it is refused anyway
        else:
            if idem.key is None:  # before streaming: a full dossier is refused at once (a keyed retry may be a replay)
                await check_room(session, dossier_id, kind)
            version = await catalogue.get_version(session, dossier.procedure_code, dossier.procedure_version)
            if version is None:
                raise RuntimeError("pinned procedure version is gone")
            resolver = part_resolver(version, kind)
    received = await receive_upload(request, store, resolver)
    try:
        # The request is only known once streamed: the part, and the file by its hash and name.
        replay = await idem.replay_or_claim(scope=scope, payload={
            "for": str(viewer.applicant_id), "part": received.part, "sha256": received.sha256,
            "file_name": received.file_name})
        if replay is not None:
            return replay
        if refused is not None:  # not a retry of what landed: the refusal stands (the claim is released)
            raise refused
        async with database.write_sessions() as session:
            dossier = await lock_dossier(session, dossier_id)
            if upload_kind(viewer, dossier) != kind:  # the state moved while the file was streaming
                raise ProblemError("attachments_closed", "The dossier changed while the file was uploading.")
            await check_room(session, dossier_id, kind)  # again under the lock: concurrent uploads count each other
            key, _ = await store.place(received.staged, received.sha256)
            attachment = Attachment(id=uuid.uuid4(), dossier_id=dossier_id, part=received.part, kind=kind.value,
                                    file_name=received.file_name, media_type=received.media_type,
                                    size=received.size, sha256=received.sha256, storage_key=key,
                                    uploaded_by=viewer.account_id, uploaded_at=clock.now())
            session.add(attachment)
            dossier.touch(attachment.uploaded_at)
            await flush_versioned(session, dossier, "dossier")
            # Just uploaded, nothing has handed it in yet (a draft's file is filed with the draft).
            out = AttachmentOut.of(attachment, handed_in=False)
            answer = await idem.respond(session, out, status_code=201, headers={
                "Location": f"/v1/dossiers/{dossier_id}/attachments/{attachment.id}/content"})
            await session.commit()
    finally:
        received.staged.unlink(missing_ok=True)  # already gone after a successful place (or a replay's copy)
    return answer


# A result file is the applicant's once the result is issued (`processed`, national code 9) or handed over; before
# that it is a draft between officials (unsigned, not yet approved), and after a stop it was never issued.
RESULT_RELEASED_STATES = frozenset({"processed", "returned"})


async def _visible_to(session: AsyncSession, viewer: Viewer, dossier: Dossier,
                      issued: frozenset[uuid.UUID] | None = None) -> ColumnElement[bool]:
    """The agency's officials see every file; anyone else (the applicant, and an integrator's client token, which
    reads its agencies' dossiers as the applicant sees them, internal notices excluded too) only issued results:
    a portal connector must not pass a draft result on as the decision."""
    if viewer.principal.kind == "official":
        return true()
    not_a_result = Attachment.kind != AttachmentKind.result.value
    if dossier.state not in RESULT_RELEASED_STATES:
        return not_a_result
    # Only the files issue_result issued: other result uploads stay drafts (one refused as unsigned, a superseded
    # version), which the applicant could otherwise take for the result.
    if issued is None:
        issued = frozenset(await issued_result_ids(session, dossier.id))
    return or_(not_a_result, Attachment.id.in_(list(issued)))


_ATTACHMENT_ORDER = ((Attachment.uploaded_at, False), (Attachment.id, False))  # oldest first, as uploaded


@dataclass(frozen=True)
class HandedIn:
    """Which of a dossier's files are part of it as filed and answered (an attachment's `handed_in`): its documents
    once it is submitted, the supplement files a `supplement` action handed in, the result files `issue_result`
    issued. Not the others: a draft's files, a file uploaded while a supplement is requested until the answer
    names it (and for good when the answer left it out), a result upload never issued (a draft, one refused)."""

    filed: bool
    supplied: frozenset[uuid.UUID]
    issued: frozenset[uuid.UUID]

    def __call__(self, attachment: Attachment) -> bool:
        if attachment.kind == AttachmentKind.document.value:
            return self.filed
        return attachment.id in (self.supplied if attachment.kind == AttachmentKind.supplement.value else self.issued)

    def clause(self) -> ColumnElement[bool]:
        return or_(and_(Attachment.kind == AttachmentKind.document.value, true() if self.filed else false()),
                   and_(Attachment.kind == AttachmentKind.supplement.value, Attachment.id.in_(list(self.supplied))),
                   and_(Attachment.kind == AttachmentKind.result.value, Attachment.id.in_(list(self.issued))))


async def handed_in(session: AsyncSession, dossier: Dossier) -> HandedIn:
    return HandedIn(filed=dossier.state != DossierState.draft.value,
                    supplied=frozenset(await supplied_ids(session, dossier.id)),
                    issued=frozenset(await issued_result_ids(session, dossier.id)))


async def list_attachments(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID, page: PageParams, *,
                           only_handed_in: bool | None = None) -> tuple[list[tuple[Attachment, bool]], str | None]:
    """One page of the dossier's files the caller may see, oldest first (a dossier holds up to 200 per kind),
    each with whether it was handed in; `only_handed_in` keeps those that were (True) or were not (False)."""
    dossier = await get_dossier_for(session, viewer, dossier_id)
    handed = await handed_in(session, dossier)
    stmt = select(Attachment).where(Attachment.dossier_id == dossier_id,
                                    await _visible_to(session, viewer, dossier, handed.issued))
    if only_handed_in is not None:
        stmt = stmt.where(handed.clause() if only_handed_in else not_(handed.clause()))
    rows, cursor = await keyset_page(session, stmt, order=_ATTACHMENT_ORDER, params=page,
                                     key=lambda a: [a.uploaded_at, a.id])
    return [(a, handed(a)) for a in rows], cursor


async def get_attachment(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID,
                         attachment_id: uuid.UUID) -> Attachment:
    dossier = await get_dossier_for(session, viewer, dossier_id)
    attachment = (await session.execute(select(Attachment).where(
        Attachment.id == attachment_id, Attachment.dossier_id == dossier_id,
        await _visible_to(session, viewer, dossier),
    ))).scalar_one_or_none()
    if attachment is None:
        raise not_found("attachment")
    return attachment


async def delete_attachment(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID,
                            attachment_id: uuid.UUID) -> None:
    """While the dossier is a draft; the file itself goes with `dvc storage gc` once unreferenced."""
    await get_attachment(session, viewer, dossier_id, attachment_id)
    dossier = await editable_draft(session, viewer, dossier_id)
    await session.execute(delete(Attachment).where(Attachment.id == attachment_id))
    dossier.touch(clock.now())
    await flush_versioned(session, dossier, "dossier")

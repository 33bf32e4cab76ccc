"""Reuse of digitised documents (Decree 45/2020): the applicant's own files, listed and attached again by reference.

An applicant's digitised documents are the files of their submitted dossiers that they can already read there: the
documents filed with a dossier, the supplement files a `supplement` action handed in, and the result files
`issue_result` issued to them (app.dossiers.attachments.HandedIn, the same rule, here in SQL over all their
dossiers). A representative acting for an organisation (`X-On-Behalf-Of`) sees the organisation's.

Reusing one writes a new attachment row pointing at the source's storage key: the store is content-addressed and
its files never change, so no bytes are copied. Nothing deletes a stored file but `dvc storage gc`, and it keeps
every file any attachment row still names (app.dossiers.commands), so removing either row (a draft's reused file,
the draft itself) never takes bytes the other still uses. The source's media type was judged by its content when it
was stored; the part's rules (accepted types, size limit) apply to it as to an upload.
"""

from __future__ import annotations

import uuid

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.catalogue import service as catalogue
from app.core import clock
from app.core.db import get_database
from app.core.etag import flush_versioned
from app.core.idempotency import Idempotency
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found
from app.core.settings import get_settings
from app.dossiers.access import Viewer, lock_dossier
from app.dossiers.attachments import RESULT_RELEASED_STATES, check_room, part_resolver, upload_kind
from app.dossiers.models import Attachment, AttachmentKind, Dossier, DossierState
from app.dossiers.schemas import AttachmentOut, AttachmentReuse, OwnDocumentOut
from app.dossiers.uploads import media_type_refused, too_large
from app.workflow.history import names_attachment

_NEWEST_FIRST = ((Attachment.uploaded_at, True), (Attachment.id, True))


def _applicant(viewer: Viewer) -> uuid.UUID:
    if not viewer.principal.is_applicant or viewer.applicant_id is None:
        raise ProblemError("forbidden_role", "Only citizen and organisation accounts hold digitised documents.")
    return viewer.applicant_id


def own_documents(dialect: str, applicant_id: uuid.UUID) -> ColumnElement[bool]:
    """SQL, over attachments joined to their dossiers: the applicant's digitised documents (module docstring)."""
    kind = Attachment.kind
    return and_(
        Dossier.applicant_id == applicant_id, Dossier.state != DossierState.draft.value,
        or_(kind == AttachmentKind.document.value,
            and_(kind == AttachmentKind.supplement.value,
                 names_attachment(dialect, "supplement", "attachments", Attachment.dossier_id, Attachment.id)),
            and_(kind == AttachmentKind.result.value, Dossier.state.in_(sorted(RESULT_RELEASED_STATES)),
                 names_attachment(dialect, "issue_result", "result_attachments", Attachment.dossier_id,
                                  Attachment.id))))


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def list_own_documents(session: AsyncSession, viewer: Viewer,
                             page: PageParams) -> tuple[list[OwnDocumentOut], str | None]:
    """One page of the caller's digitised documents, newest first (403 `forbidden_role` but for applicants)."""
    applicant_id = _applicant(viewer)
    stmt = (select(Attachment, Dossier.code).join(Dossier, Dossier.id == Attachment.dossier_id)
            .where(own_documents(_dialect(session), applicant_id)))
    rows, cursor = await keyset_page(session, stmt, order=_NEWEST_FIRST, params=page, scalars=False,  # type: ignore[arg-type]
                                     key=lambda row: [row[0].uploaded_at, row[0].id])
    return [OwnDocumentOut.of(attachment, code) for attachment, code in rows], cursor


async def _source(session: AsyncSession, viewer: Viewer, source_id: uuid.UUID) -> Attachment:
    """The caller's own digitised document, or 404 `not_found` (another's file, a draft's, an unissued result and
    an unknown id answer alike)."""
    applicant_id = viewer.applicant_id if viewer.principal.is_applicant else None
    if applicant_id is None:  # officials and clients hold no digitised documents of their own
        raise not_found("attachment")
    source = (await session.execute(
        select(Attachment).join(Dossier, Dossier.id == Attachment.dossier_id)
        .where(Attachment.id == source_id, own_documents(_dialect(session), applicant_id)))).scalar_one_or_none()
    if source is None:
        raise not_found("attachment")
    return source


async def reuse_body(request: Request) -> AttachmentReuse:
    """The JSON body, validated as FastAPI would (422 `validation_error` naming each field under `body`)."""
    try:
        return AttachmentReuse.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None


async def add_reused(viewer: Viewer, dossier_id: uuid.UUID, body: AttachmentReuse,
                     idem: Idempotency) -> JSONResponse:
    """The 201 answer: a new attachment of the dossier with the source's bytes, checked as an upload is (who may
    attach now, the part, its media types and size limit, room left), in one transaction that bumps the dossier's
    version (ETag); replayed for a retry with the same `Idempotency-Key`."""
    replay = await idem.replay_or_claim(scope=str(viewer.account_id), payload={
        "for": str(viewer.applicant_id), "reuse": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    async with get_database().write_sessions() as session:
        dossier = await lock_dossier(session, dossier_id, viewer)
        kind = upload_kind(viewer, dossier)
        source = await _source(session, viewer, body.source_attachment_id)
        version = await catalogue.get_version(session, dossier.procedure_code, dossier.procedure_version)
        if version is None:
            raise RuntimeError("pinned procedure version is gone")
        rule = part_resolver(version, kind)(body.part)
        if rule.media_types and source.media_type not in rule.media_types:
            raise media_type_refused(source.media_type, rule.media_types)
        limit = min(rule.max_bytes, get_settings().max_upload_bytes)
        if source.size > limit:
            raise too_large(limit)
        await check_room(session, dossier_id, kind)
        attachment = Attachment(id=uuid.uuid4(), dossier_id=dossier_id, part=body.part, kind=kind.value,
                                file_name=source.file_name, media_type=source.media_type, size=source.size,
                                sha256=source.sha256, storage_key=source.storage_key, uploaded_by=viewer.account_id,
                                uploaded_at=clock.now(), reused_from=source.id)
        session.add(attachment)
        dossier.touch(attachment.uploaded_at)
        await flush_versioned(session, dossier, "dossier")
        answer = await idem.respond(session, AttachmentOut.of(attachment, handed_in=False), status_code=201, headers={
            "Location": f"/v1/dossiers/{dossier_id}/attachments/{attachment.id}/content"})
        await session.commit()
    return answer

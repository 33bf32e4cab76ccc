"""HTTP routes of the dossiers domain: drafts, intake, submit, attachments, lists, public tracking."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.catalogue.schemas import KNOWN_MEDIA_TYPES
from app.core.conditional import not_modified
from app.core.csvexport import BomQuery, csv_response_doc, csv_stream_response
from app.core.db import ReadSessionDep, SessionDep
from app.core.direct import autocommit_writes, direct_transaction
from app.core.etag import IfMatch, check_if_match, version_tag
from app.core.idempotency import IdempotencyDep
from app.core.negotiation import VARY_ACCEPT, negotiate
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.ratelimit import enforce, public_limiter
from app.core.request_context import streams_multipart
from app.core.responses import content_disposition, model_response
from app.core.routing import is_json_media_type
from app.core.text import path_code
from app.dossiers import attachments, listing, register, reuse, submission
from app.dossiers.access import etag, get_dossier_for
from app.dossiers.deps import ViewerDep
from app.dossiers.models import DossierState
from app.dossiers.schemas import (
    AttachmentOut,
    AttachmentReuse,
    DossierCreate,
    DossierFilters,
    DossierIntake,
    DossierOut,
    DossierPatch,
    OwnDocumentOut,
    PublicDossierOut,
)
from app.dossiers.storage import get_store
from app.identity.deps import require_assurance
from app.workflow.transitions import dossier_workflow_view, submitted_workflow_view

router = APIRouter(tags=["dossiers"])

# A draft takes no workflow action (it is changed, discarded or submitted): the same empty list GET answers.
DRAFT_ACTIONS: list[str] = []


def _dossier_response(dossier: Any, status_code: int = 200, headers: dict[str, str] | None = None,
                      workflow: dict[str, Any] | None = None) -> Response:
    return model_response(DossierOut.of(dossier, **(workflow or {})), status_code=status_code,
                          headers={"ETag": etag(dossier), **(headers or {})})


@router.post("/v1/dossiers", status_code=201, response_model=DossierOut,
             responses=problems("bad_request", "not_found", "idempotency_in_progress", "idempotency_key_reused",
                                "not_a_representative", "validation_error"))
async def create_dossier(body: DossierCreate, viewer: ViewerDep, idem: IdempotencyDep) -> Response:
    """Start a draft for a published procedure (online filing; `X-On-Behalf-Of` for representatives)."""
    replay = await idem.replay_or_claim(scope=str(viewer.account_id),
                                        payload={"for": str(viewer.applicant_id), "body": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    # With a claimed key the draft and its stored answer commit together; without one the draft is a single INSERT
    # that commits on its own (PostgreSQL: no BEGIN and COMMIT round trips for the portal's busiest write).
    async with (direct_transaction() if idem.claimed else autocommit_writes()) as writer:
        draft = await submission.create_draft(writer, viewer, body)
        return await idem.respond(writer, DossierOut.of(draft, next_actions=DRAFT_ACTIONS), status_code=201,
                                  headers={"Location": f"/v1/dossiers/{draft['id']}", "ETag": version_tag(1)})


@router.post("/v1/dossiers/intake", status_code=201, response_model=DossierOut,
             responses=problems("bad_request", "documents_missing", "idempotency_in_progress",
                                "idempotency_key_reused", "validation_error"))
async def intake_dossier(body: DossierIntake, viewer: ViewerDep, idem: IdempotencyDep,
                         session: SessionDep) -> Response:
    """Register a dossier handed in at the desk or received by post (reception officials); `submit` files it."""
    replay = await idem.replay_or_claim(scope=str(viewer.account_id), payload=body)
    if replay is not None:
        return replay
    dossier = await submission.create_intake(session, viewer, body)
    workflow = ({"next_actions": DRAFT_ACTIONS} if dossier.state == DossierState.draft
                else await dossier_workflow_view(session, viewer, dossier))  # registered and filed at once
    return await idem.respond(session, DossierOut.of(dossier, **workflow), status_code=201,
                              headers={"Location": f"/v1/dossiers/{dossier.id}", "ETag": etag(dossier)})


REGISTER_CSV_RESPONSE = csv_response_doc(
    "A page of the list as JSON, or with `Accept: text/csv` the dossier register (form 06 of Circular "
    "01/2018/TT-VPCP, sổ theo dõi hồ sơ): every dossier the filters select, one line each, newest first, streamed "
    "(`limit` and `cursor` do not apply). Columns, in this order: " + ", ".join(
        f"`{c}`" for c in register.REGISTER_COLUMNS) + ". Times in Asia/Ho_Chi_Minh (ISO 8601 with +07:00); "
    "`Trạng thái` is the state key, `Mã trạng thái quốc gia` its national code; `Tiến độ` is `Trước hạn`, "
    "`Đúng hạn` or `Quá hạn` for a dossier whose result was issued or that was stopped (against its original due "
    "date), `Quá hạn` or `Trong hạn` for an open one (its `overdue`), empty otherwise. A text cell "
    "that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`) starts with an apostrophe.")


@router.get("/v1/dossiers", response_model=Page[DossierOut],
            responses={**problems("validation_error", "not_acceptable"), **REGISTER_CSV_RESPONSE})
async def list_dossiers(request: Request, viewer: ViewerDep, page: PageDep,
                        filters: Annotated[DossierFilters, Query()], bom: BomQuery = False) -> Response:
    """The dossiers the caller may see, newest first (applicants: their own; officials: their agency's).

    With `Accept: text/csv`, the register (form 06): the whole filtered list as CSV, seen exactly as the JSON
    list (the same visibility in SQL, filters and order), streamed a page at a time; `bom=true` starts it with a
    UTF-8 byte-order mark for Excel."""
    accept = request.headers.get("accept")
    if accept is not None and negotiate(accept, ("application/json", "text/csv")) == "text/csv":
        chunks = await register.register_chunks(viewer, filters)
        return csv_stream_response(chunks, register.file_name(), bom=bom)
    rows, cursor = await listing.list_dossiers(viewer, filters, page)
    return model_response(Page[DossierOut](items=[DossierOut.of(row, **extras) for row, extras in rows],
                                           next_cursor=cursor), headers=VARY_ACCEPT)


@router.get("/v1/dossiers/{dossier_id}", response_model=DossierOut, responses=problems("not_found"))
async def get_dossier(dossier_id: uuid.UUID, viewer: ViewerDep, session: ReadSessionDep) -> Response:
    """One dossier with its workflow fields: next_actions (this caller's), due dates, pause, overdue."""
    dossier = await get_dossier_for(session, viewer, dossier_id)
    return _dossier_response(dossier, workflow=await dossier_workflow_view(session, viewer, dossier))


@router.patch("/v1/dossiers/{dossier_id}", response_model=DossierOut,
              responses=problems("bad_request", "not_found", "dossier_not_draft", "precondition_failed",
                                 "precondition_required", "validation_error"))
async def update_dossier(dossier_id: uuid.UUID, body: DossierPatch, viewer: ViewerDep, session: SessionDep,
                         if_match: IfMatch = None) -> Response:
    """Change a draft (If-Match required)."""
    dossier = await submission.editable_draft(session, viewer, dossier_id)
    check_if_match(dossier.version, if_match, "dossier")
    dossier = await submission.update_draft(session, dossier, body)
    return _dossier_response(dossier, workflow={"next_actions": DRAFT_ACTIONS})


@router.delete("/v1/dossiers/{dossier_id}", status_code=204,
               responses=problems("not_found", "dossier_not_draft", "precondition_failed", "precondition_required"))
async def delete_dossier(dossier_id: uuid.UUID, viewer: ViewerDep, session: SessionDep,
                         if_match: IfMatch = None) -> Response:
    """Discard a draft (If-Match required)."""
    dossier = await submission.editable_draft(session, viewer, dossier_id)
    check_if_match(dossier.version, if_match, "dossier")
    await submission.delete_draft(session, dossier)
    return Response(status_code=204)


@router.post("/v1/dossiers/{dossier_id}/submit", response_model=DossierOut,
             responses=problems("assurance_too_low", "not_found", "dossier_not_draft", "documents_missing",
                                "draft_stale", "idempotency_in_progress", "idempotency_key_reused",
                                "precondition_failed", "validation_error"))
async def submit_dossier(dossier_id: uuid.UUID, viewer: ViewerDep, idem: IdempotencyDep,
                         session: SessionDep, if_match: IfMatch = None) -> Response:
    """File the draft: every required part attached; assigns the dossier code; state `submitted`. `If-Match` is
    optional; when sent, a draft changed since (in another tab, by a co-worker) is not filed (412). A draft of a
    procedure withdrawn since (its version ended, none in force) is 409 `draft_stale` (`extra.procedure_version`);
    one whose version was replaced files under the version it was started with."""
    replay = await idem.replay_or_claim(scope=str(viewer.account_id), payload={"for": str(viewer.applicant_id)})
    if replay is not None:
        return replay
    if viewer.principal.is_applicant:
        require_assurance(viewer.principal)
    dossier, version = await submission.submit(session, viewer, dossier_id, if_match)
    workflow = await submitted_workflow_view(session, viewer, dossier, version)
    return await idem.respond(session, DossierOut.of(dossier, **workflow), headers={"ETag": etag(dossier)})


# Two representations of one new attachment: the file itself (multipart), or a reference to one of the applicant's
# digitised documents (JSON). The route reads its body itself either way, so the schemas are declared here.
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["part", "file"],
        "properties": {"part": {"type": "string", "description": "A document part key of the procedure version."},
                       "file": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": AttachmentReuse.model_json_schema()}}}}


# Streamed under the part's own limits (app.dossiers.uploads), so exempt from the request body cap; a JSON body is
# small and stays under it.
@router.post(streams_multipart("POST", "/v1/dossiers/{dossier_id}/attachments"), status_code=201,
             response_model=AttachmentOut, openapi_extra=_UPLOAD_BODY,
             responses=problems("not_found", "forbidden_role", "attachments_closed", "attachment_limit_reached",
                                "file_too_large", "media_type_not_allowed", "idempotency_in_progress",
                                "idempotency_key_reused", "validation_error"))
async def upload_dossier_attachment(dossier_id: uuid.UUID, request: Request, viewer: ViewerDep,
                                    idem: IdempotencyDep) -> Response:
    """Attach one file: streamed (multipart fields `part`, then `file`; its type is judged by its content), or, with
    an `application/json` body `{"part", "source_attachment_id"}`, one of the caller's digitised documents
    (`GET /v1/accounts/me/documents`) without sending it again. The same rules either way: who may attach now (409
    `attachments_closed`), the part's media types (415) and size limit (413); a source the caller does not hold
    is 404 `not_found`. The new file's `reused_from` names its source."""
    if is_json_media_type(request.headers.get("content-type", "")):
        return await reuse.add_reused(viewer, dossier_id, await reuse.reuse_body(request), idem)
    return await attachments.add_attachment(viewer, dossier_id, request, idem)


@router.get("/v1/dossiers/{dossier_id}/attachments", response_model=Page[AttachmentOut],
            responses=problems("not_found", "validation_error"))
async def list_dossier_attachments(
    dossier_id: uuid.UUID, viewer: ViewerDep, page: PageDep, session: ReadSessionDep,
    handed_in: Annotated[bool | None, Query(description="Only the files handed in (true) or not (false).")] = None,
) -> Page[AttachmentOut]:
    """The dossier's files the caller may see, oldest first, a page at a time (`limit`, `cursor`); `handed_in` says
    which are part of the dossier (a supplement upload is not until a `supplement` action hands it in)."""
    rows, cursor = await attachments.list_attachments(session, viewer, dossier_id, page, only_handed_in=handed_in)
    return Page[AttachmentOut](items=[AttachmentOut.of(a, handed_in=h) for a, h in rows], next_cursor=cursor)


# What a stored file can be: what a part may accept (its type is judged by its content), or octet-stream when the
# content matched no known type. The spec listed octet-stream alone, so every PDF answered an undocumented type.
STORED_MEDIA_TYPES = sorted(KNOWN_MEDIA_TYPES | {"application/octet-stream"})


@router.get("/v1/dossiers/{dossier_id}/attachments/{attachment_id}/content", response_class=StreamingResponse,
            responses={**problems("not_found"),
                       200: {"description": "The file, in the media type it was stored as",
                             "content": {media_type: {} for media_type in STORED_MEDIA_TYPES}},
                       304: {"description": "Not modified: the file named by If-None-Match"}})
async def download_dossier_attachment(dossier_id: uuid.UUID, attachment_id: uuid.UUID, viewer: ViewerDep,
                                      session: ReadSessionDep, if_none_match: Annotated[str | None, Header(
                                          description="The ETag of a copy already held (304 if unchanged).")] = None,
                                      ) -> Response:
    """The file's bytes, streamed, with its SHA-256 (`Digest`, `ETag`); 304 when `If-None-Match` names it."""
    attachment = await attachments.get_attachment(session, viewer, dossier_id, attachment_id)
    tag = f'"{attachment.sha256}"'
    # A stored file never changes, so a client that holds it must not be sent up to 100 MiB again.
    if (unchanged := not_modified(if_none_match, tag)) is not None:
        return unchanged
    digest = base64.b64encode(bytes.fromhex(attachment.sha256)).decode()
    headers = {"ETag": tag, "Digest": f"sha-256={digest}",
               "Repr-Digest": f"sha-256=:{digest}:", "Content-Length": str(attachment.size),
               "Content-Disposition": content_disposition("attachment", attachment.file_name),
               "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(get_store().read(attachment.storage_key), media_type=attachment.media_type,
                             headers=headers)


@router.delete("/v1/dossiers/{dossier_id}/attachments/{attachment_id}", status_code=204,
               responses=problems("not_found", "dossier_not_draft"))
async def delete_dossier_attachment(dossier_id: uuid.UUID, attachment_id: uuid.UUID, viewer: ViewerDep,
                                    session: SessionDep) -> Response:
    await attachments.delete_attachment(session, viewer, dossier_id, attachment_id)
    return Response(status_code=204)


@router.get("/v1/accounts/me/documents", response_model=Page[OwnDocumentOut],
            responses=problems("forbidden_role", "validation_error"))
async def list_own_documents(viewer: ViewerDep, page: PageDep, session: ReadSessionDep) -> Page[OwnDocumentOut]:
    """The caller's digitised documents, newest first, a page at a time: the files of their submitted dossiers they
    can read there (documents filed, supplement files handed in, results issued to them), each with its dossier's
    code. A representative sees the organisation's with `X-On-Behalf-Of`; officials and clients are 403
    `forbidden_role`. Attach one to a draft (or to a requested supplement) with `POST /v1/dossiers/{id}/attachments`
    and a JSON body naming it, instead of uploading it again."""
    items, cursor = await reuse.list_own_documents(session, viewer, page)
    return Page[OwnDocumentOut](items=items, next_cursor=cursor)


@router.get("/v1/public/dossiers/{code}", response_model=PublicDossierOut, tags=["public"],
            responses=problems("not_found", "rate_limited"))
async def track_dossier(code: Annotated[str, Path(max_length=100), path_code("dossier")],
                        request: Request) -> Response:
    """Track a dossier by its code, without logging in (no personal data; rate-limited per address)."""
    await enforce(public_limiter, request)  # called, not a dependency: the busiest public route (PROFILE.md)
    return model_response(await listing.public_status(code))

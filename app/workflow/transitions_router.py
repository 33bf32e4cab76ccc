"""HTTP routes of dossier transitions: the action endpoint, history (and its check), steps and notices."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.core import clock
from app.core.db import ReadSessionDep, SessionDep
from app.core.etag import IfMatch
from app.core.negotiation import VARY_ACCEPT, negotiate
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import not_found
from app.core.responses import content_disposition, model_response
from app.dossiers.access import Viewer, etag, get_dossier_for
from app.dossiers.deps import ViewerDep
from app.dossiers.schemas import DossierOut
from app.workflow import history, notices, slip, steps
from app.workflow.engine import TransitionRequest
from app.workflow.hooks import Exemption
from app.workflow.progress import is_late, is_overdue, version_facts
from app.workflow.schemas import (
    ActorOut,
    HistoryEntryOut,
    HistoryVerification,
    NoticeOut,
    StepOut,
    TransitionIn,
)
from app.workflow.transitions import TransitionInput, transition

router = APIRouter(tags=["workflow"])

PDF_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "The notice as JSON, or as a PDF with `Accept: application/pdf`.",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/v1/dossiers/{dossier_id}/transitions", response_model=DossierOut,
             responses=problems("bad_request", "not_found", "forbidden_role", "transition_not_allowed",
                                "fees_unpaid", "workflow_unavailable", "precondition_failed", "precondition_required",
                                "validation_error", "result_not_signed"))
async def transition_dossier(
    dossier_id: uuid.UUID, body: TransitionIn, viewer: ViewerDep, session: SessionDep, if_match: IfMatch = None,
) -> Response:
    """Take one workflow action on the dossier (receive, request_supplement, assign, issue_result, ...).

    Requires `If-Match`; answers the dossier as it now is with its new `ETag`. The allowed actions for the
    caller are the dossier's `next_actions`.
    """
    request = TransitionRequest(
        action=body.action, reason=body.reason or None, items=tuple(body.items), new_due_date=body.new_due_date,
        attachments=tuple(body.attachments), assignee=body.assignee,
        delivery=body.delivery.method if body.delivery else None)
    data = TransitionInput(request=request, tracking_number=body.delivery.tracking_number if body.delivery else None,
                           exemptions=[Exemption(e.item, e.reason) for e in body.exemptions])
    outcome = await transition(session, viewer, dossier_id, data, if_match)
    dossier, progress = outcome.dossier, outcome.progress
    now = clock.now()
    overdue = is_overdue(dossier, now, paused_at=progress.paused_at)
    late = is_late(dossier, now, original_due_at=progress.original_due_at, late_since=progress.late_since,
                   paused_at=progress.paused_at)
    out = DossierOut.of(dossier, next_actions=outcome.next_actions, original_due_at=progress.original_due_at,
                        paused_working_days=progress.paused_working_days, overdue=overdue, late=late)
    return model_response(out, headers={"ETag": etag(dossier)})


@router.get("/v1/dossiers/{dossier_id}/history", response_model=Page[HistoryEntryOut],
            responses=problems("not_found", "validation_error"))
async def list_dossier_history(dossier_id: uuid.UUID, viewer: ViewerDep, page: PageDep,
                               session: ReadSessionDep) -> Page[HistoryEntryOut]:
    """Every state change of the dossier, oldest first (by `seq`), hash-chained (form 05's record of who did
    what when), a page at a time (`limit`, `cursor`). Officials see the internal notices an action issued;
    others do not (`details.notices`)."""
    await get_dossier_for(session, viewer, dossier_id)
    rows, cursor = await history.entries_page(session, dossier_id, page)
    internal = _sees_internal_notices(viewer)
    return Page[HistoryEntryOut](items=[HistoryEntryOut(
        seq=e.seq, action=e.action, from_=e.from_state, to=e.to_state, from_code=e.from_code, to_code=e.to_code,
        actor=ActorOut(id=e.actor_id, kind=e.actor_kind, name=e.actor_name), at=e.at, reason=e.reason,
        details=notices.details_shown(e.details or {}, internal=internal), prev_hash=e.prev_hash, hash=e.hash)
        for e in rows], next_cursor=cursor)


@router.get("/v1/dossiers/{dossier_id}/history/verify", response_model=HistoryVerification,
            responses=problems("not_found"))
async def verify_dossier_history(dossier_id: uuid.UUID, viewer: ViewerDep,
                                 session: ReadSessionDep) -> HistoryVerification:
    """Recompute the hash chain: `valid` false and the first broken entry when anything was altered."""
    await get_dossier_for(session, viewer, dossier_id)
    result = await history.verify(session, dossier_id)
    return HistoryVerification(valid=result.valid, entries=result.entries, first_broken_seq=result.first_broken_seq)


SLIP_PDF_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "A page of the slip as JSON, or with `Accept: application/pdf` the whole slip printed as form 05 "
                   "of Circular 01/2018/TT-VPCP (`limit` and `cursor` do not apply to it).",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/v1/dossiers/{dossier_id}/steps", response_model=Page[StepOut],
            responses={**problems("not_found", "validation_error", "not_acceptable"), **SLIP_PDF_RESPONSE})
async def list_dossier_steps(dossier_id: uuid.UUID, request: Request, viewer: ViewerDep, page: PageDep,
                             session: ReadSessionDep) -> Response:
    """The internal process (form 05): each completed step, who held the dossier, its allowance and whether it
    overran, in the order completed; then the step under way (`ended_at` null: who holds it now, since when,
    its allowance and whether it has overrun already). A page at a time (`limit`, `cursor`).

    With `Accept: application/pdf`, the whole slip printed as form 05 (phiếu kiểm soát quá trình giải quyết hồ
    sơ): one row per step, handed over by (the previous step's holder, the applicant for the first) and to (the
    step's holder), when it began, its deadline, when it was done, early / on time / late, notes. Whoever may
    read the JSON may print it (the same rows): the agency's officials, clients reading its dossiers, and the
    applicant, who follows how their own dossier moves; anyone else gets 404 as for the dossier."""
    dossier = await get_dossier_for(session, viewer, dossier_id)
    facts = await version_facts(session, dossier)
    if negotiate(request.headers.get("accept"), ("application/json", "application/pdf")) == "application/pdf":
        name = f"phieu-kiem-soat-{dossier.code or dossier.id}.pdf"
        return Response(await slip.render_slip(session, dossier, facts), media_type="application/pdf",
                        headers={"Content-Disposition": content_disposition("inline", name), **VARY_ACCEPT})
    rows, cursor = await steps.list_steps(session, dossier, facts, page)
    return model_response(Page[StepOut](items=[StepOut.model_validate(s) for s in rows], next_cursor=cursor),
                          headers=VARY_ACCEPT)


def _sees_internal_notices(viewer: Viewer) -> bool:
    """Officials only: an explanation is addressed inside the agency, so neither the applicant nor an
    integrator's client token (which reads its agencies' dossiers) sees it."""
    return viewer.principal.kind == "official"


@router.get("/v1/dossiers/{dossier_id}/notices", response_model=Page[NoticeOut],
            responses=problems("not_found", "validation_error"))
async def list_dossier_notices(dossier_id: uuid.UUID, viewer: ViewerDep, page: PageDep,
                               session: ReadSessionDep) -> Page[NoticeOut]:
    """Notices issued to the applicant (receipt, supplement request, refusal, apology, result, ...); officials
    also see the explanations of delays to the head of the agency. In the order issued, a page at a time
    (`limit`, `cursor`); each one as PDF at `/notices/{notice_id}`."""
    await get_dossier_for(session, viewer, dossier_id)
    rows, cursor = await notices.notices_page(session, dossier_id, page, internal=_sees_internal_notices(viewer))
    return Page[NoticeOut](items=[NoticeOut.model_validate(n) for n in rows], next_cursor=cursor)


@router.get("/v1/dossiers/{dossier_id}/notices/{notice_id}", response_model=NoticeOut,
            responses={**problems("not_found", "not_acceptable"), **PDF_RESPONSE})
async def get_dossier_notice(dossier_id: uuid.UUID, notice_id: uuid.UUID, request: Request, viewer: ViewerDep,
                             session: ReadSessionDep) -> Response:
    """One notice: JSON, or the printable form as PDF (`Accept: application/pdf`)."""
    await get_dossier_for(session, viewer, dossier_id)
    notice = await notices.get_notice(session, dossier_id, notice_id, internal=_sees_internal_notices(viewer))
    if notice is None:
        raise not_found("notice")
    if negotiate(request.headers.get("accept"), ("application/json", "application/pdf")) == "application/pdf":
        name = f"{notice.kind}-{notice.content.get('dossier_code') or notice.dossier_id}.pdf"
        return Response(await notices.render_pdf(session, notice), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"', **VARY_ACCEPT})
    return JSONResponse(NoticeOut.model_validate(notice).model_dump(mode="json"), headers=VARY_ACCEPT)

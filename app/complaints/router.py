"""HTTP routes of the complaints domain: complaints and feedback about a dossier (phản ánh, kiến nghị)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.complaints import service
from app.complaints.deps import AnsweringOfficial, ComplaintReaderDep, ListingOfficial
from app.complaints.models import Complaint
from app.complaints.schemas import AnswerIn, ComplaintIn, ComplaintOut, ComplaintRatingIn, ComplaintStateName
from app.core.db import ReadSessionDep, SessionDep
from app.core.etag import PRECONDITION_PROBLEMS, IfMatch, version_tag
from app.core.idempotency import IdempotencyDep
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.text import ONE_LINE
from app.dossiers.access import Viewer
from app.identity.deps import ActingDep, ApplicantDep

router = APIRouter(tags=["complaints"])


def _out(complaint: Complaint, response: Response | None = None) -> ComplaintOut:
    if response is not None:  # answering needs If-Match: every answer about one complaint names its ETag
        response.headers["ETag"] = version_tag(complaint.version)
    return service.to_out(complaint)


@router.post("/v1/dossiers/{dossier_id}/complaints", status_code=201, response_model=ComplaintOut,
             responses=problems("bad_request", "not_found", "complaint_not_allowed", "not_a_representative",
                                "idempotency_in_progress", "idempotency_key_reused", "validation_error"))
async def file_complaint(dossier_id: uuid.UUID, body: ComplaintIn, caller: ApplicantDep, acting: ActingDep,
                         idem: IdempotencyDep, session: SessionDep) -> Any:
    """The applicant (or its representative, `X-On-Behalf-Of`) complains about a submitted dossier, or gives
    feedback on it. The agency's answer falls due DVC_COMPLAINT_ANSWER_WORKING_DAYS (10) working days later, at
    the end of that working day (`due_at`)."""
    replay = await idem.replay_or_claim(scope=str(caller.account_id), payload={
        "for": str(acting.applicant_id), "dossier": str(dossier_id), "body": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    viewer = Viewer.of(caller, acting.applicant_id)
    complaint = await service.file(session, viewer, acting.actor_id, dossier_id, body)
    return await idem.respond(session, service.to_out(complaint), status_code=201,
                              headers={"Location": f"/v1/complaints/{complaint.id}",
                                       "ETag": version_tag(complaint.version)})


@router.get("/v1/dossiers/{dossier_id}/complaints", response_model=Page[ComplaintOut],
            responses=problems("not_found", "not_a_representative", "validation_error"))
async def list_dossier_complaints(dossier_id: uuid.UUID, viewer: ComplaintReaderDep, page: PageDep,
                                  session: ReadSessionDep) -> Page[ComplaintOut]:
    """A dossier's complaints, newest first: for its applicant (or representative) and the agency's officials."""
    rows, cursor = await service.list_for_dossier(session, viewer, dossier_id, page)
    return Page(items=[_out(c) for c in rows], next_cursor=cursor)


@router.get("/v1/complaints", response_model=Page[ComplaintOut], responses=problems("not_found", "validation_error"))
async def list_complaints(
    official: ListingOfficial,
    page: PageDep,
    session: ReadSessionDep,
    state: Annotated[ComplaintStateName | None, Query(description="open or answered.")] = None,
    overdue: Annotated[bool | None, Query(description="true: open past the due time, or answered after it; "
                                                      "false: the others.")] = None,
    agency: Annotated[str | None, Query(max_length=64, description="Agency code: an official's own (another is "
                                                                   "404); any for a system administrator."),
                      ONE_LINE] = None,
) -> Page[ComplaintOut]:
    """The complaints about the official's agency's dossiers, newest first (officials with reception or
    processing; a system administrator every agency's)."""
    rows, cursor = await service.list_for_agency(session, Viewer.of(official), page, state=state, overdue=overdue,
                                                 agency=agency)
    return Page(items=[_out(c) for c in rows], next_cursor=cursor)


@router.get("/v1/complaints/{complaint_id}", response_model=ComplaintOut,
            responses=problems("not_found", "not_a_representative"))
async def get_complaint(complaint_id: uuid.UUID, viewer: ComplaintReaderDep, session: ReadSessionDep,
                        response: Response) -> ComplaintOut:
    """One complaint, with its ETag: for whoever may see its dossier (not integrator clients)."""
    return _out(await service.get(session, viewer, complaint_id), response)


@router.post("/v1/complaints/{complaint_id}/answer", response_model=ComplaintOut,
             responses=problems("bad_request", "not_found", "complaint_already_answered", "validation_error",
                                *PRECONDITION_PROBLEMS))
async def answer_complaint(complaint_id: uuid.UUID, body: AnswerIn, official: AnsweringOfficial,
                           session: SessionDep, response: Response, if_match: IfMatch = None) -> ComplaintOut:
    """The agency answers (an official holding reception or processing there), once; requires `If-Match` with the
    complaint's ETag. The applicant is told (event `complaint.answered`)."""
    complaint = await service.answer(session, Viewer.of(official), complaint_id, body, if_match)
    return _out(complaint, response)


@router.post("/v1/complaints/{complaint_id}/rating", response_model=ComplaintOut,
             responses=problems("bad_request", "not_found", "complaint_not_answered", "complaint_already_rated",
                                "not_a_representative", "validation_error", "precondition_failed"))
async def rate_complaint_answer(complaint_id: uuid.UUID, body: ComplaintRatingIn, caller: ApplicantDep,
                                acting: ActingDep, session: SessionDep, response: Response) -> ComplaintOut:
    """The applicant (or its representative) says, once, whether they are satisfied with how the complaint was
    handled; only after the answer."""
    complaint = await service.rate(session, Viewer.of(caller, acting.applicant_id), complaint_id, body)
    return _out(complaint, response)

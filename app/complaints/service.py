"""Complaints and feedback about a dossier (phản ánh, kiến nghị): filing, answering, rating, and the lists.

Who sees what is the dossier's visibility (app.dossiers.access), decided in SQL: a complaint is visible to whoever
may see its dossier (the applicant or its representative, the agency's officials, the system administrator);
integrator clients are refused before (app.complaints.deps). Answering takes an official holding reception or
processing at the dossier's agency (a system administrator's rank is no such role), with If-Match.

The indicators (Decision 766, satisfaction group) are counted in the same transaction (app.reporting.counters):
- filing: `complaints_due` on the local day the answer falls due (known at filing), and, the first time the
  dossier is complained about, `dossiers_with_complaints` on the day of filing;
- answering by the due time: `complaints_answered_on_time` on the due day, so that both figures of "complaints
  handled on time" fall on the same day and a period holds the complaints that fell due in it;
- rating: `complaint_ratings` and `complaint_ratings_satisfied` on the day of the rating.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.complaints.models import Complaint, ComplaintState
from app.complaints.schemas import AnswerIn, ComplaintIn, ComplaintOut, ComplaintRating, ComplaintRatingIn
from app.core import clock
from app.core.etag import check_if_match, flush_versioned
from app.core.outbox import emit
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found
from app.core.settings import get_settings
from app.dossiers.access import VISIBILITY_SHAPES, Viewer, get_dossier_for, visibility
from app.dossiers.models import Dossier, DossierState
from app.reporting.counters import add_counts, local_day, mark_once
from app.workflow import deadlines
from app.workflow.calendar_service import load_calendar_for_deadline

OPEN, ANSWERED = ComplaintState.open.value, ComplaintState.answered.value
ANSWERING_ROLES = ("reception", "processing")
COMPLAINED = "dossiers_with_complaints"  # the once-per-dossier mark, named as its counter
NEWEST_FIRST = [(Complaint.filed_at, True), (Complaint.id, True)]


def _page_key(complaint: Complaint) -> tuple[datetime, uuid.UUID]:
    return complaint.filed_at, complaint.id


def is_overdue(complaint: Complaint, now: datetime) -> bool:
    """Open past its due time, or answered after it (an answer at the due time itself is on time)."""
    done = complaint.answered_at if complaint.state == ANSWERED else now
    return done is not None and deadlines.is_overdue(complaint.due_at, done)


def _overdue_clause(now: datetime) -> Any:
    return or_(and_(Complaint.state == OPEN, Complaint.due_at < now),
               and_(Complaint.state == ANSWERED, Complaint.answered_at > Complaint.due_at))


def to_out(complaint: Complaint, now: datetime | None = None) -> ComplaintOut:
    rating = None
    if complaint.satisfied is not None and complaint.rated_at is not None:
        rating = ComplaintRating(satisfied=complaint.satisfied, comment=complaint.rating_comment,
                                 rated_at=complaint.rated_at)
    return ComplaintOut(
        id=complaint.id, dossier_id=complaint.dossier_id, agency_code=complaint.agency_code,
        kind=complaint.kind,
        text=complaint.text, filed_by=complaint.filed_by, filed_at=complaint.filed_at, due_at=complaint.due_at,
        state=complaint.state,
        overdue=is_overdue(complaint, now or clock.now()), answer=complaint.answer,
        answered_by=complaint.answered_by, answered_at=complaint.answered_at, rating=rating)


async def answer_due_at(session: AsyncSession, filed_at: datetime) -> datetime:
    """The end of the working day DVC_COMPLAINT_ANSWER_WORKING_DAYS working days after filing (a complaint filed
    after hours or on a day off counts from the next working day, as a reception does)."""
    days = get_settings().complaint_answer_working_days
    calendar = await load_calendar_for_deadline(session, clock.local(filed_at).date(), days)
    return deadlines.due_at(filed_at, days, calendar)


async def file(session: AsyncSession, viewer: Viewer, filed_by: uuid.UUID, dossier_id: uuid.UUID,
               body: ComplaintIn) -> Complaint:
    """A complaint about a dossier the viewer (its applicant) sees; 409 `complaint_not_allowed` for a draft."""
    dossier = await get_dossier_for(session, viewer, dossier_id)
    if dossier.state == DossierState.draft.value:
        raise ProblemError("complaint_not_allowed", "A draft cannot be complained about; submit it first.")
    now = clock.now()
    complaint = Complaint(id=uuid.uuid4(), dossier_id=dossier.id, agency_code=dossier.agency_code,
                          procedure_code=dossier.procedure_code, kind=body.kind, text=body.text, filed_by=filed_by,
                          filed_at=now, due_at=await answer_due_at(session, now), state=OPEN)
    session.add(complaint)
    await session.flush()
    key = (dossier.agency_code, dossier.procedure_code)
    await add_counts(session, (*key, local_day(complaint.due_at)), complaints_due=1)
    if await mark_once(session, dossier.id, COMPLAINED):
        await add_counts(session, (*key, local_day(now)), dossiers_with_complaints=1)
    await emit(session, "complaint.filed", aggregate_type="dossier", aggregate_id=dossier.id, payload={
        "complaint_id": str(complaint.id), "dossier_id": str(dossier.id), "code": dossier.code,
        "agency_code": dossier.agency_code, "procedure_code": dossier.procedure_code, "kind": complaint.kind,
        "due_at": clock.utc_text(complaint.due_at), "at": clock.utc_text(now)})
    return complaint


def _visible(viewer: Viewer) -> tuple[Any, dict[str, Any]]:
    """Complaints whose dossier `viewer` may see: the dossier's visibility rule, in the same statement."""
    shape, values = visibility(viewer)
    stmt = select(Complaint).join(Dossier, Dossier.id == Complaint.dossier_id).where(VISIBILITY_SHAPES[shape])
    return stmt, values


async def get(session: AsyncSession, viewer: Viewer, complaint_id: uuid.UUID, *, lock: bool = False) -> Complaint:
    """The complaint if `viewer` may see its dossier; 404 `not_found` otherwise (whether or not it exists). With
    `lock`, locked for the rest of the transaction and read afresh."""
    stmt, values = _visible(viewer)
    stmt = stmt.where(Complaint.id == complaint_id)
    if lock:
        stmt = stmt.with_for_update(of=Complaint).execution_options(populate_existing=True)
    complaint = (await session.execute(stmt, values)).scalar_one_or_none()
    if complaint is None:
        raise not_found("complaint")
    return complaint


async def list_for_dossier(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID,
                           page: PageParams) -> tuple[list[Complaint], str | None]:
    dossier = await get_dossier_for(session, viewer, dossier_id)
    stmt = select(Complaint).where(Complaint.dossier_id == dossier.id)
    return await keyset_page(session, stmt, order=NEWEST_FIRST, params=page, key=_page_key)


async def list_for_agency(session: AsyncSession, viewer: Viewer, page: PageParams, *, state: str | None,
                          overdue: bool | None, agency: str | None) -> tuple[list[Complaint], str | None]:
    """An official's agency's complaints (a system administrator's: every agency's, or `agency`'s). Another
    agency than the official's own is 404, as the reports answer it."""
    p = viewer.principal
    if not p.is_system_admin:
        if p.agency_code is None or agency not in (None, p.agency_code):
            raise not_found("agency")
        agency = p.agency_code
    stmt = select(Complaint)
    if agency is not None:
        stmt = stmt.where(Complaint.agency_code == agency)
    if state is not None:
        stmt = stmt.where(Complaint.state == state)
    if overdue is not None:
        clause = _overdue_clause(clock.now())
        stmt = stmt.where(clause if overdue else ~clause)
    return await keyset_page(session, stmt, order=NEWEST_FIRST, params=page, key=_page_key)


async def answer(session: AsyncSession, viewer: Viewer, complaint_id: uuid.UUID, body: AnswerIn,
                 if_match: str | None) -> Complaint:
    """The agency's answer, once: 428/412 without the current ETag, 409 `complaint_already_answered` after. The
    viewer is an official of an agency holding ANSWERING_ROLES there (app.complaints.deps)."""
    complaint = await get(session, viewer, complaint_id, lock=True)
    check_if_match(complaint.version, if_match, "complaint")
    if complaint.state != OPEN:
        raise ProblemError("complaint_already_answered", "This complaint has already been answered.")
    now = clock.now()
    complaint.state, complaint.answer = ANSWERED, body.answer
    complaint.answered_by, complaint.answered_at = viewer.account_id, now
    await flush_versioned(session, complaint, "complaint")
    on_time = not deadlines.is_overdue(complaint.due_at, now)
    if on_time:
        await add_counts(session, (complaint.agency_code, complaint.procedure_code, local_day(complaint.due_at)),
                         complaints_answered_on_time=1)
    await emit(session, "complaint.answered", aggregate_type="dossier", aggregate_id=complaint.dossier_id, payload={
        "complaint_id": str(complaint.id), "dossier_id": str(complaint.dossier_id),
        "agency_code": complaint.agency_code, "procedure_code": complaint.procedure_code, "kind": complaint.kind,
        "due_at": clock.utc_text(complaint.due_at), "on_time": on_time, "at": clock.utc_text(now)})
    return complaint


async def rate(session: AsyncSession, viewer: Viewer, complaint_id: uuid.UUID, body: ComplaintRatingIn) -> Complaint:
    """The applicant's one rating of the answer: 409 `complaint_not_answered` before it, `complaint_already_rated`
    the second time."""
    complaint = await get(session, viewer, complaint_id, lock=True)
    if complaint.state != ANSWERED:
        raise ProblemError("complaint_not_answered", "The complaint has not been answered yet; rate the answer "
                           "once it is.")
    if complaint.satisfied is not None:
        raise ProblemError("complaint_already_rated", "The answer to this complaint has already been rated.")
    now = clock.now()
    complaint.satisfied, complaint.rating_comment = body.satisfied, body.comment or None
    complaint.rated_by, complaint.rated_at = viewer.account_id, now
    await flush_versioned(session, complaint, "complaint")
    await add_counts(session, (complaint.agency_code, complaint.procedure_code, local_day(now)),
                     complaint_ratings=1, complaint_ratings_satisfied=int(body.satisfied))
    return complaint

"""Applicants rate a finished dossier once (1-5, optional comment); the rating feeds the satisfaction group.

Only the applicant (or a representative acting for the organisation) sees the dossier here (404 otherwise,
app.dossiers.access); only a dossier whose result was returned, or that was rejected or stopped, can be
rated (409 `rating_not_allowed`); a second rating is 409 `conflict` (the primary key settles a race). The
counters move in the same transaction, on the day of the rating.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.problems import ProblemError
from app.core.settings import get_settings
from app.dossiers.access import Viewer, get_dossier_for
from app.reporting.counters import add_counts, local_day
from app.reporting.models import DossierRating
from app.reporting.schemas import RatingIn

RATEABLE_STATES = frozenset({"returned", "rejected", "stopped"})


async def rate(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID, body: RatingIn) -> DossierRating:
    dossier = await get_dossier_for(session, viewer, dossier_id)
    if dossier.state not in RATEABLE_STATES:
        raise ProblemError("rating_not_allowed", f"The dossier is {dossier.state}; it can be rated once its result "
                           "is returned, or once it is rejected or stopped.")
    if await session.get(DossierRating, dossier.id) is not None:
        raise ProblemError("conflict", "This dossier has already been rated.")
    now = clock.now()
    rating = DossierRating(dossier_id=dossier.id, score=body.score, comment=body.comment or None,
                           rated_by=viewer.account_id, created_at=now)
    session.add(rating)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise ProblemError("conflict", "This dossier has already been rated.") from error
    satisfied = int(body.score >= get_settings().rating_satisfied_min_score)
    await add_counts(session, (dossier.agency_code, dossier.procedure_code, local_day(now)),
                     rating_count=1, rating_sum=body.score, rating_satisfied=satisfied)
    return rating

"""HTTP routes of the reporting domain: indicators (Decision 766), snapshots, the public late list, ratings."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import LocalDay
from app.core.csvexport import BomQuery, csv_response, csv_response_doc
from app.core.db import ReadSessionDep, SessionDep
from app.core.negotiation import VARY_ACCEPT, negotiate
from app.core.openapi import problems
from app.core.pagination import PageDep
from app.core.problems import not_found, validation_problem
from app.core.ratelimit import public_limiter, rate_limited
from app.core.text import ONE_LINE
from app.dossiers.access import Viewer, get_dossier_for
from app.dossiers.deps import ViewerDep
from app.identity.deps import ActingDep, ApplicantDep, Principal, official, official_or_client
from app.reporting import cache, indicators, late, ratings, snapshots
from app.reporting.models import DossierRating
from app.reporting.schemas import (
    GroupBy,
    IndicatorReport,
    LateList,
    Period,
    RatingIn,
    RatingOut,
    SnapshotIn,
    SnapshotOut,
)
from app.reporting.scope import agency_scope, public_scope, require_procedure

router = APIRouter()

MAX_RANGE_DAYS = 366 * 5
ReportReader = Annotated[Principal, official_or_client(roles=(), scopes=("reports:read",))]


def _json_or_csv(schema: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route that answers `schema` as JSON, or with `Accept: text/csv` the report's CSV."""
    doc = csv_response_doc(description)
    doc[200]["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
                           **doc[200]["content"]}
    return doc


CSV_RESPONSE = _json_or_csv(
    "IndicatorReport", "The report as JSON, or with `Accept: text/csv` one line per ratio (total first).")
SNAPSHOT_CSV_RESPONSE = _json_or_csv(
    "SnapshotOut", "The published month as JSON, or with `Accept: text/csv` its report as CSV in the live "
                   "report's layout: one line per ratio (total first, then one row per agency).")


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    """Default: the current local month up to today."""
    today = clock.local(clock.now()).date()
    for name, day in (("from", start), ("to", end)):
        if day == date.max:  # a period ends at the midnight after its last day: 9999-12-31 has none (was a 500)
            raise validation_problem([{"loc": ["query", name], "msg": "must be before 9999-12-31",
                                       "type": "value_error"}])
    end = end or (today if start is None or start <= today else start)
    start = start or end.replace(day=1)
    if start > end:
        raise validation_problem([{"loc": ["query", "from"], "msg": "must not be after `to`", "type": "value_error"}])
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise validation_problem([{"loc": ["query", "to"], "msg": f"at most {MAX_RANGE_DAYS} days after `from`",
                                   "type": "value_error"}])
    return start, end


@router.get("/v1/reports/indicators", response_model=IndicatorReport, tags=["reports"],
            responses={**problems("not_found", "validation_error", "not_acceptable"), **CSV_RESPONSE})
async def get_indicators(
    request: Request,
    response: Response,
    caller: ReportReader,
    session: ReadSessionDep,
    agency: Annotated[str | None, Query(max_length=64, description="Agency code (with the agencies under it)."),
                      ONE_LINE] = None,
    procedure: Annotated[str | None, Query(max_length=64, description="Procedure code."), ONE_LINE] = None,
    start: Annotated[LocalDay | None, Query(alias="from", description="First day (local), default the 1st of "
                                                                      "the current month.")] = None,
    end: Annotated[LocalDay | None, Query(alias="to",
                                          description="Last day (local), inclusive; default today.")] = None,
    group_by: Annotated[GroupBy | None, Query(description="Also one row per agency, procedure or month.")] = None,
    bom: BomQuery = False,
) -> Any:
    """Decision 766 indicators: five groups of ratios (numerator, denominator, value) and points.

    Officials read their agency and those under it, system administrators every agency, clients with
    `reports:read` the agencies they act for. An agency outside that scope, or a procedure code the catalogue
    does not know, is 404. A group's points are its weight (DVC_INDICATOR_WEIGHTS, default 18/20/22/22/18) × the
    mean of its scored ratios that have a value; ratios the service holds no data for (reuse of digitised data) are
    `available: false` and never estimated. With `Accept: text/csv`, one line per ratio; `bom=true` starts the
    file with a UTF-8 byte-order mark for Excel.

    Open dossiers (`overdue_open`, and the open part of `finished_on_time`) are those open at the end of the
    period, `open_counted_at` saying when they were counted: for a period that is over, the worker's end-of-day
    count of its last day (minutes after that midnight, or rebuilt later from the dossiers' history for a day it
    missed, up to `DVC_OPEN_COUNT_BACKFILL_DAYS` back); for an older day it never counted, rebuilt from the
    history when the report is made, as the dossiers were at that midnight (`open_counted_at` is that midnight);
    for the current period, the dossiers open now. A dossier is overdue once it fell behind its original due
    date, a supplement wait that began after that date moving the date but not the lateness, as on the public
    late list."""
    first, last = _period(start, end)
    scope = await agency_scope(session, caller, agency)
    if procedure is not None:
        await require_procedure(session, procedure)
    report = await indicators.report(session, start=first, end=last, agencies=scope, procedure=procedure,
                                     agency=agency, group_by=group_by)
    if negotiate(request.headers.get("accept"), ("application/json", "text/csv")) == "text/csv":
        return csv_response(indicators.to_csv(report), f"indicators-{first.isoformat()}-{last.isoformat()}.csv",
                            bom=bom)
    response.headers.update(VARY_ACCEPT)
    return report


@router.post("/v1/reports/indicators/snapshots", response_model=SnapshotOut, status_code=201, tags=["reports"],
             responses=problems("conflict", "bad_request", "validation_error"))
async def publish_indicator_snapshot(body: SnapshotIn, admin: Annotated[Principal, official("system_admin")],
                                     session: SessionDep, response: Response) -> SnapshotOut:
    """Freeze a month's indicators (system admin); immutable, public at /v1/public/indicators?period=."""
    out = await snapshots.publish(session, body.period, admin.account_id)
    response.headers["Location"] = f"/v1/public/indicators?period={out.period}"
    return out


@router.get("/v1/public/indicators", response_model=SnapshotOut, tags=["public"],
            dependencies=[rate_limited(public_limiter)],
            responses={**problems("not_found", "rate_limited", "not_acceptable"), **SNAPSHOT_CSV_RESPONSE})
async def get_public_indicators(request: Request, response: Response, session: ReadSessionDep,
                                period: Annotated[Period, Query(description="The month, YYYY-MM.")],
                                bom: BomQuery = False) -> Any:
    """A published month's indicators (no token; 404 until published); with `Accept: text/csv` its report in
    the live report's CSV layout, for the monthly publication (`bom=true`: with a UTF-8 byte-order mark for
    Excel)."""
    as_csv = negotiate(request.headers.get("accept"), ("application/json", "text/csv")) == "text/csv"
    snapshot = await snapshots.published(session, period)
    if as_csv:
        return csv_response(indicators.to_csv(snapshot.report), f"indicators-{snapshot.period}.csv", bom=bom)
    response.headers.update(VARY_ACCEPT)
    return snapshot


@router.get("/v1/public/late-dossiers", response_model=LateList, tags=["public"],
            dependencies=[rate_limited(public_limiter)], responses=problems("not_found", "rate_limited"))
async def get_public_late_dossiers(
    session: ReadSessionDep,
    page: PageDep,
    agency: Annotated[str | None, Query(max_length=64, description="Agency code (with those under it)."),
                      ONE_LINE] = None,
    start: Annotated[LocalDay | None, Query(alias="from",
                                            description="First day, default the 1st of this month.")] = None,
    end: Annotated[LocalDay | None, Query(alias="to", description="Last day, inclusive; default today.")] = None,
) -> LateList:
    """Agencies and officials who processed dossiers late (UBND 442/2023 §2; no token; cached briefly)."""
    first, last = _period(start, end)
    scope = await _public_scope(session, agency)
    return await cache.cached_late_list(session, late.Window(first, last, scope), page.limit, page.cursor)


async def _public_scope(session: AsyncSession, agency: str | None) -> frozenset[str] | None:
    return None if agency is None else await public_scope(session, agency)


@router.post("/v1/dossiers/{dossier_id}/rating", response_model=RatingOut, status_code=201, tags=["ratings"],
             responses=problems("not_found", "conflict", "rating_not_allowed", "bad_request", "validation_error",
                                "not_a_representative"))
async def rate_dossier(dossier_id: uuid.UUID, body: RatingIn, caller: ApplicantDep, acting: ActingDep,
                       session: SessionDep, response: Response) -> DossierRating:
    """Rate a finished dossier once (its applicant or representative): 1-5 and an optional comment."""
    rating = await ratings.rate(session, Viewer.of(caller, acting.applicant_id), dossier_id, body)
    response.headers["Location"] = f"/v1/dossiers/{dossier_id}/rating"
    return rating


@router.get("/v1/dossiers/{dossier_id}/rating", response_model=RatingOut, tags=["ratings"],
            responses=problems("not_found"))
async def get_dossier_rating(dossier_id: uuid.UUID, viewer: ViewerDep, session: ReadSessionDep) -> DossierRating:
    """The dossier's rating, for whoever may see the dossier (404 when not rated)."""
    await get_dossier_for(session, viewer, dossier_id)
    rating = await session.get(DossierRating, dossier_id)
    if rating is None:
        raise not_found("rating")
    return rating

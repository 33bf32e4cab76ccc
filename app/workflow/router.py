"""HTTP routes of the workflow domain: the working calendar here; dossier transitions, history, steps and
notices in transitions_router.py (included below)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.catalogue.schemas import CODE_PATTERN
from app.core.clock import LocalDay
from app.core.db import ReadSessionDep, SessionDep
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import not_found
from app.core.routing import include_flat
from app.identity.deps import AdminDep
from app.workflow import calendar_service
from app.workflow.schemas import CalendarOverrideIn, CalendarOverrideOut, WorkingDays
from app.workflow.transitions_router import router as transitions_router

router = APIRouter()
include_flat(router, transitions_router)


@router.get("/v1/calendar/working-days", response_model=WorkingDays, tags=["calendar"],
            responses=problems("not_found", "validation_error"))
async def list_working_days(
    session: ReadSessionDep,
    start: Annotated[LocalDay, Query(alias="from", description="First day (YYYY-MM-DD).")],
    end: Annotated[LocalDay, Query(alias="to", description="Last day, inclusive; at most 366 days after `from`.")],
    # The shape of an agency code (app.catalogue.schemas.Code): anything else is no agency, and a NUL reached
    # the database (404 on SQLite, a 422 naming no field on PostgreSQL).
    agency: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN,
                                        description="Agency code.")] = None,
) -> WorkingDays:
    """The working calendar, one item per day: working or not, and why (public)."""
    items = await calendar_service.working_days(session, start, end, agency)
    return WorkingDays(items=items)


@router.put("/v1/calendar/overrides/{date}", response_model=CalendarOverrideOut, tags=["calendar"],
            responses={201: {"model": CalendarOverrideOut,
                             "description": "Created: `date` had no override (`Location` names it)"},
                       **problems("bad_request", "validation_error")})
async def put_calendar_override(date: LocalDay, body: CalendarOverrideIn, admin: AdminDep,
                                session: SessionDep, response: Response) -> CalendarOverrideOut:
    """Make `date` a working day or a day off, whatever the holiday package says (system admin): 201 when the
    day had no override, 200 when its override is replaced."""
    row, created = await calendar_service.put_override(session, date, working=body.working, note=body.note,
                                                       actor_id=admin.account_id)
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/v1/calendar/overrides/{date.isoformat()}"
    return CalendarOverrideOut.model_validate(row)


@router.get("/v1/calendar/overrides/{date}", response_model=CalendarOverrideOut, tags=["calendar"],
            responses=problems("not_found", "validation_error"))
async def get_calendar_override(date: LocalDay, admin: AdminDep, session: ReadSessionDep) -> CalendarOverrideOut:
    """The override of `date` (system admin): what a PUT to this address made."""
    row = await calendar_service.get_override(session, date)
    if row is None:
        raise not_found("calendar override")
    return CalendarOverrideOut.model_validate(row)


@router.get("/v1/calendar/overrides", response_model=Page[CalendarOverrideOut], tags=["calendar"],
            responses=problems("validation_error"))
async def list_calendar_overrides(
    admin: AdminDep,
    session: ReadSessionDep,
    page: PageDep,
    start: Annotated[LocalDay | None, Query(alias="from", description="Only overrides on or after this day.")] = None,
    end: Annotated[LocalDay | None, Query(alias="to", description="Only overrides on or before this day.")] = None,
) -> Page[CalendarOverrideOut]:
    """The overrides, by date (system admin)."""
    rows, next_cursor = await calendar_service.list_overrides(session, page, start, end)
    return Page[CalendarOverrideOut](items=[CalendarOverrideOut.model_validate(r) for r in rows],
                                     next_cursor=next_cursor)

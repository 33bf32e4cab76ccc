"""HTTP routes of the notifications domain: the applicant's channel preferences, a dossier's messages, the
account's own messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter

from app.core.db import ReadSessionDep, SessionDep
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import ProblemError
from app.dossiers.access import get_dossier_for
from app.dossiers.deps import ViewerDep
from app.identity.deps import ActingDep, ApplicantDep
from app.notifications import channels, service
from app.notifications.schemas import NotificationOut, PreferencesOut, PreferencesPatch


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    channels.announce()  # say once, at start, which channels are on and which are off
    yield


router = APIRouter(tags=["notifications"])


@router.get("/v1/accounts/me/notification-preferences", summary="The caller's notification channels")
async def notifications_get_preferences(caller: ApplicantDep, session: ReadSessionDep) -> PreferencesOut:
    """Without a saved choice: email on, SMS and Zalo off, Vietnamese. Required messages (supplement, payment,
    apology, refusal) still reach at least one channel the applicant has when every channel is off."""
    return service.preferences_out(await service.get_preferences(session, caller.account_id))


@router.patch("/v1/accounts/me/notification-preferences", summary="Choose notification channels and language",
              responses=problems("bad_request", "validation_error"))
async def notifications_update_preferences(caller: ApplicantDep, body: PreferencesPatch,
                                           session: SessionDep) -> PreferencesOut:
    """Only the fields sent change. SMS and Zalo need a phone number on the account (422 otherwise). Email and
    SMS go to the contact given for a dossier when there is one, else the account's; Zalo always goes to the
    account's own phone number as it is when the message is sent (the consent is for that number)."""
    return service.preferences_out(await service.update_preferences(session, caller.account_id, body))


@router.get("/v1/accounts/me/notifications", summary="Messages sent to the caller's account (not about a dossier)",
            responses=problems("forbidden_role", "not_a_representative", "validation_error"))
async def notifications_of_account(acting: ActingDep, page: PageDep,
                                   session: ReadSessionDep) -> Page[NotificationOut]:
    """Citizen and organisation accounts (403 `forbidden_role` for officials and clients): the messages about the
    account itself, newest first: a representative's mandate given, changed or withdrawn, or its term ending soon
    (to the citizen), a term ending soon (to the organisation), a term given in advance now begun (to both). Same
    items as a dossier's notifications, recipients masked, `last_error` always null. With `X-On-Behalf-Of`, a
    representative reads the organisation's messages while their mandate is in force (403 `not_a_representative`
    otherwise, as for its dossiers), and only those about their own mandate (its start, its end coming near), never
    those about the organisation's other representatives. Messages about dossiers are not here: read them per
    dossier (`GET /v1/dossiers/{id}/notifications`), where who may see them is decided."""
    items, cursor = await service.list_account_messages(session, acting.applicant_id, page,
                                                        mandate_id=acting.mandate_id)
    return Page[NotificationOut](items=items, next_cursor=cursor)


@router.get("/v1/dossiers/{dossier_id}/notifications", summary="Messages sent to the applicant about a dossier",
            responses=problems("not_found", "forbidden_role"))
async def notifications_of_dossier(dossier_id: uuid.UUID, viewer: ViewerDep, page: PageDep,
                                   session: ReadSessionDep) -> Page[NotificationOut]:
    """The applicant and the agency's officials: what was sent, on which channel, when, its delivery state;
    recipients masked. Officials also see the last delivery error."""
    if viewer.principal.kind == "client":
        raise ProblemError("forbidden_role", "Only the applicant and the agency's officials see notifications.")
    await get_dossier_for(session, viewer, dossier_id)
    items, cursor = await service.list_messages(session, dossier_id, page,
                                                show_errors=viewer.principal.kind == "official")
    return Page[NotificationOut](items=items, next_cursor=cursor)

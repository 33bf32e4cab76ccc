"""HTTP routes of the integration domain: intake from the national portal, sync state, webhooks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from app.core.db import ReadSessionDep, SessionDep
from app.core.delivery import PENDING, Delivery
from app.core.etag import PRECONDITION_PROBLEMS, IfMatch, version_tag
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.text import DECIMAL_DIGITS
from app.dossiers.access import etag
from app.dossiers.deps import ViewerDep
from app.dossiers.schemas import DossierOut
from app.identity.deps import AdminDep, Principal, client, official_or_client
from app.integration import intake, sync_service, webhooks
from app.integration.models import WebhookSubscription
from app.integration.schemas import (
    DossierSyncOut,
    NationalDossierIn,
    SyncDeliveryOut,
    SyncReplayOut,
    SyncResync,
    SyncResyncOut,
    SyncStateFilter,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookPatch,
    WebhookSecretRotate,
)

DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1), DECIMAL_DIGITS]  # a bigint id; larger values are a 422

router = APIRouter(tags=["integration"])

SyncClientDep = Annotated[Principal, client("dossiers:sync")]
WebhookClientDep = Annotated[Principal, client()]  # managing what it has: also after losing a scope
WebhookSubscriberDep = Annotated[Principal, client(webhooks.READ_SCOPE)]  # events carry dossier data
SyncReaderDep = Annotated[Principal, official_or_client(roles=(), scopes=("dossiers:sync",))]


def _webhook_out(subscription: WebhookSubscription) -> WebhookOut:
    return WebhookOut(id=subscription.id, url=subscription.url, event_types=list(subscription.event_types),
                      description=subscription.description, active=subscription.active,
                      created_at=subscription.created_at,
                      previous_secret_expires_at=subscription.previous_secret_expires_at
                      if webhooks.previous_secret_in_use(subscription) else None)


@router.post("/v1/integration/dossiers", status_code=201, response_model=DossierOut,
             responses={200: {"model": DossierOut, "description": "This national dossier id was received before: "
                                                                  "the dossier created then."},
                        **problems("forbidden_role", "conflict", "documents_missing", "file_too_large",
                                   "media_type_not_allowed", "validation_error")})
async def integration_receive_dossier(body: NationalDossierIn, caller: SyncClientDep) -> Response:
    """A dossier filed on the national portal, forwarded here: created submitted (channel online, source
    national_portal). Idempotent by `national_dossier_id`."""
    dossier, created = await intake.receive(caller, body)
    content = DossierOut.of(dossier).model_dump(mode="json")
    headers = {"ETag": etag(dossier)}  # as `GET /v1/dossiers/{id}` gives it: the next change needs it as If-Match
    if created:
        return JSONResponse(content, status_code=201, headers={"Location": f"/v1/dossiers/{dossier.id}", **headers})
    return JSONResponse(content, status_code=200, headers=headers)


@router.get("/v1/dossiers/{dossier_id}/sync", response_model=DossierSyncOut, responses=problems("not_found"))
async def dossier_sync_state(dossier_id: uuid.UUID, viewer: ViewerDep, session: ReadSessionDep) -> DossierSyncOut:
    """What the national portal has been sent for this dossier: each delivery's state, attempts, last error."""
    return await sync_service.dossier_sync(session, viewer, dossier_id)


@router.get("/v1/integration/sync", response_model=Page[SyncDeliveryOut], responses=problems("validation_error"))
async def integration_sync_list(caller: SyncReaderDep, session: ReadSessionDep, page: PageDep,
                                state: Annotated[SyncStateFilter | None, Query(
                                    description="failed = pending after at least one attempt")] = None,
                                ) -> Page[SyncDeliveryOut]:
    """Portal deliveries of the caller's agency (all agencies for a system administrator), newest first."""
    items, cursor = await sync_service.list_sync(session, caller, state, page)
    return Page(items=items, next_cursor=cursor)


@router.post("/v1/integration/sync/{dossier_id}/replay", status_code=202, response_model=SyncReplayOut,
             responses=problems("not_found", "conflict"))
async def integration_sync_replay(dossier_id: uuid.UUID, admin: AdminDep, session: SessionDep) -> SyncReplayOut:
    """Send the dossier's current state to the portal again (after anything still pending for it)."""
    return await sync_service.replay(session, admin, dossier_id)


@router.post("/v1/integration/sync/resync", status_code=202, response_model=SyncResyncOut,
             responses=problems("portal_disabled", "validation_error"))
async def integration_sync_resync(body: SyncResync, admin: AdminDep, session: SessionDep) -> SyncResyncOut:
    """Queue the current state of every submitted dossier the portal has not acknowledged in it (never synced,
    or last acknowledged in another status) and not already waiting to be sent, up to `limit` per call: how the
    portal catches up after it was disabled or down (409 `portal_disabled` while it is still disabled). Call again with
    `after` = `next_after` until it is null (`dvc portal resync` does)."""
    return await sync_service.resync(session, admin, agency_code=body.agency_code, after=body.after,
                                     limit=body.limit)


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreated, responses=problems("validation_error"))
async def webhooks_create(body: WebhookCreate, caller: WebhookSubscriberDep, session: SessionDep) -> Response:
    """Subscribe a URL to event types; the answer carries the signing secret, shown only here."""
    subscription = await webhooks.create(session, caller, body)
    created = WebhookCreated(**_webhook_out(subscription).model_dump(), secret=subscription.secret)
    return JSONResponse(created.model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/v1/webhooks/{subscription.id}",
                                 "ETag": version_tag(subscription.revision)})


@router.get("/v1/webhooks", response_model=Page[WebhookOut], responses=problems("validation_error"))
async def webhooks_list(caller: WebhookClientDep, session: ReadSessionDep, page: PageDep) -> Page[WebhookOut]:
    items, cursor = await webhooks.list_own(session, caller, page)
    return Page(items=[_webhook_out(s) for s in items], next_cursor=cursor)


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookOut, responses=problems("not_found"))
async def webhooks_get(webhook_id: uuid.UUID, caller: WebhookClientDep, session: ReadSessionDep,
                       response: Response) -> WebhookOut:
    """A subscription, with the `ETag` a change to it needs."""
    subscription = await webhooks.get_own(session, caller, webhook_id)
    response.headers["ETag"] = version_tag(subscription.revision)
    return _webhook_out(subscription)


@router.patch("/v1/webhooks/{webhook_id}", response_model=WebhookOut,
              responses=problems("not_found", *PRECONDITION_PROBLEMS, "validation_error"))
async def webhooks_change(webhook_id: uuid.UUID, body: WebhookPatch, caller: WebhookSubscriberDep,
                          session: SessionDep, response: Response, if_match: IfMatch = None) -> WebhookOut:
    """Change the URL, event types or description (If-Match required; answers the new `ETag`). The subscription
    keeps its id, secret, ordering and log; deliveries not yet made, retries included, go to the new URL."""
    subscription = await webhooks.change(session, caller, webhook_id, body, if_match)
    response.headers["ETag"] = version_tag(subscription.revision)
    return _webhook_out(subscription)


@router.post("/v1/webhooks/{webhook_id}/secret", response_model=WebhookCreated,
             responses=problems("not_found", "validation_error"))
async def webhooks_rotate_secret(webhook_id: uuid.UUID, caller: WebhookClientDep, session: SessionDep,
                                 response: Response, body: WebhookSecretRotate | None = None) -> WebhookCreated:
    """Replace the signing secret; the answer carries the new one, shown only here. The secret it replaces keeps
    signing, as a second `v1` in `X-DVC-Signature`, for `previous_secret_valid_hours` (24 by default, 0 for none),
    so deliveries verify while the receiver changes over."""
    hours = (body or WebhookSecretRotate()).previous_secret_valid_hours
    subscription = await webhooks.rotate_secret(session, caller, webhook_id, timedelta(hours=hours))
    response.headers["ETag"] = version_tag(subscription.revision)
    return WebhookCreated(**_webhook_out(subscription).model_dump(), secret=subscription.secret)


@router.delete("/v1/webhooks/{webhook_id}", status_code=204, response_class=Response,
               responses=problems("not_found", "precondition_failed"))
async def webhooks_delete(webhook_id: uuid.UUID, caller: WebhookClientDep, session: SessionDep,
                          if_match: IfMatch = None) -> Response:
    """Stop deliveries to this subscription (pending ones become dead; the log stays). `If-Match` is optional; when
    sent, a subscription changed since is not deleted (412)."""
    await webhooks.delete(session, caller, webhook_id, if_match)
    return Response(status_code=204)


def _delivery_out(row: Any) -> WebhookDeliveryOut:
    delivery: Delivery = row[0]
    return WebhookDeliveryOut(
        id=delivery.id, event_id=row[1], event_type=row[2], state=delivery.state, attempts=delivery.attempts,
        replays=delivery.replays, last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.state == PENDING else None,
        created_at=delivery.created_at, delivered_at=delivery.delivered_at)


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=Page[WebhookDeliveryOut],
            responses=problems("not_found", "validation_error"))
async def webhooks_deliveries(webhook_id: uuid.UUID, caller: WebhookClientDep, session: ReadSessionDep,
                              page: PageDep) -> Page[WebhookDeliveryOut]:
    """The delivery log of a subscription, newest first."""
    rows, cursor = await webhooks.deliveries(session, caller, webhook_id, page)
    return Page(items=[_delivery_out(r) for r in rows], next_cursor=cursor)


@router.post("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", response_model=WebhookDeliveryOut,
             responses=problems("not_found", "conflict", "delivery_in_progress"))
async def webhooks_delivery_replay(webhook_id: uuid.UUID, delivery_id: DeliveryId, caller: WebhookClientDep,
                                   session: SessionDep) -> WebhookDeliveryOut:
    """Make a failed or dead delivery due now (the worker sends it on its next pass), with a fresh retry schedule:
    if that attempt fails too, it is retried 1 min, 5 min, 30 min, 2 h and 1 day later, as a new delivery is,
    before it is dead again. `attempts` keeps counting every attempt, earlier ones included, and `replays` says
    how often it was replayed. A delivered one answers 409 `conflict`; one a worker is sending at that moment
    answers 409 `delivery_in_progress` and is not sent a second time (replay it if that attempt fails)."""
    row = await webhooks.replay(session, caller, webhook_id, delivery_id)
    return _delivery_out(row)

"""Signed webhooks: clients' subscriptions, and the outbox consumer `webhooks` that delivers to them.

Each event of a subscribed type about a dossier of one of the client's agencies becomes one delivery (target =
subscription id, ordering key = dossier id: a subscription sees one dossier's events in order, and one failing
subscription holds back none of another's), provided the client still holds `dossiers:read` (the events carry
dossier data: its code, the applicant id) and is active. The body is JSON
`{"id": <event uuid>, "type", "created_at", "data"}`, signed with the subscription's secret:

    X-DVC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

(docs/webhooks.md shows how to verify it). For a while after the client rotates the secret, a second `v1` signs
with the secret it replaced, so a receiver is never without a signature it can check while it changes over.

A 2xx answer is success; anything else, a timeout, a redirect or a target now resolving to a private address
is a failure, retried after 1 min, 5 min, 30 min, 2 h and 1 day, then dead. The SSRF guard runs at creation
and again, after DNS resolution, before every attempt.

The client's right to the event is checked again before every attempt too: a delivery fanned out before the
client was suspended, lost `dossiers:read` or lost the dossier's agency ends dead, unsent and never retried, its
reason in the delivery log. So does one whose subscription was deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import get_database
from app.core.delivery import DEAD, PENDING, Abandoned, Delivery, Target, requeue
from app.core.etag import check_if_match, flush_versioned
from app.core.outbox import OutboxEvent
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found, validation_problem
from app.core.settings import get_settings
from app.dossiers.models import Dossier
from app.identity import service as identity
from app.identity.deps import Principal
from app.integration import ssrf
from app.integration.models import WebhookSubscription
from app.integration.schemas import WEBHOOK_EVENT_TYPES, WebhookCreate, WebhookPatch

if TYPE_CHECKING:
    from app.identity.models import Account

CONSUMER = "webhooks"
READ_SCOPE = "dossiers:read"  # every webhook event is about a dossier: subscribing and receiving need this scope
SIGNATURE_HEADER = "X-DVC-Signature"
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(days=1))


# --- signing ------------------------------------------------------------------------------------------------

def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int, *, previous_secret: str | None = None) -> str:
    """The signature header: one `v1` per secret that signs, the current one first."""
    header = f"t={timestamp},v1={_digest(secret, body, timestamp)}"
    return header if previous_secret is None else f"{header},v1={_digest(previous_secret, body, timestamp)}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """The receiver's side of the recipe (also used by the tests): one of the `v1` signatures matches and `t` is
    recent. Any malformed header is False, never an exception: a huge `t` overflowed the clock comparison, a
    non-ASCII `v1` broke the constant-time comparison."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamp = next((value for name, value in parts if name == "t"), "")
    signatures = [value for name, value in parts if name == "v1" and value.isascii()]
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and signatures):
        return False
    sent = int(timestamp)
    if abs((now if now is not None else time.time()) - sent) > tolerance_s:
        return False
    expected = _digest(secret, body, sent)
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def event_body(event: OutboxEvent) -> bytes:
    return json.dumps({"id": str(event.event_id), "type": event.event_type,
                       "created_at": clock.utc_text(event.created_at), "data": event.payload},
                      separators=(",", ":"), ensure_ascii=False).encode()


# --- subscriptions ------------------------------------------------------------------------------------------

async def _check_target(url: str) -> None:
    try:
        await ssrf.check_url(url)
    except ssrf.UnsafeUrl as error:
        raise validation_problem([{"loc": ["body", "url"], "msg": str(error), "type": "unsafe_url"}]) from error


async def create(session: AsyncSession, client: Principal, data: WebhookCreate) -> WebhookSubscription:
    await _check_target(data.url)
    subscription = WebhookSubscription(client_id=client.account_id, url=data.url, event_types=data.event_types,
                                       secret=_new_secret(), description=data.description,
                                       active=True, created_at=clock.now())
    session.add(subscription)
    await session.flush()
    return subscription


async def get_own(session: AsyncSession, client: Principal, subscription_id: uuid.UUID, *,
                  deleted: bool = False, lock: bool = False) -> WebhookSubscription:
    """The caller's own subscription, else 404. A deleted one only with `deleted=True` (reading its log)."""
    subscription = await session.get(WebhookSubscription, subscription_id, with_for_update=lock,
                                      populate_existing=lock)
    if (subscription is None or subscription.client_id != client.account_id
            or (subscription.deleted_at is not None and not deleted)):
        raise not_found("webhook")
    return subscription


async def list_own(session: AsyncSession, client: Principal, page: PageParams) -> tuple[list[Any], str | None]:
    stmt = select(WebhookSubscription).where(WebhookSubscription.client_id == client.account_id,
                                             WebhookSubscription.deleted_at.is_(None))
    return await keyset_page(session, stmt, order=[(WebhookSubscription.created_at, True),
                                                   (WebhookSubscription.id, True)],
                             params=page, key=lambda s: (s.created_at, s.id))


async def change(session: AsyncSession, client: Principal, subscription_id: uuid.UUID, patch: WebhookPatch,
                 if_match: str | None) -> WebhookSubscription:
    """Change the URL, event types or description (If-Match required). Deliveries not yet made, retries included,
    go to the new URL (each attempt reads it); the event types decide which later events are fanned out."""
    subscription = await get_own(session, client, subscription_id)
    check_if_match(subscription.revision, if_match, "webhook")
    changes = patch.model_dump(exclude_unset=True)  # url and event_types are never null (WebhookPatch)
    if "url" in changes:
        await _check_target(changes["url"])
    for name, value in changes.items():
        setattr(subscription, name, value)
    await flush_versioned(session, subscription, "webhook")
    return subscription


async def rotate_secret(session: AsyncSession, client: Principal, subscription_id: uuid.UUID,
                        previous_valid_for: timedelta) -> WebhookSubscription:
    """A new secret, answered once; the one it replaces signs beside it for `previous_valid_for` (none when zero),
    while the client's receiver changes over. A secret from an earlier rotation stops signing at once. The row is
    locked: two rotations at once would each answer a secret, only one of which was kept."""
    subscription = await get_own(session, client, subscription_id, lock=True)
    keep = previous_valid_for > timedelta(0)
    subscription.previous_secret = subscription.secret if keep else None
    subscription.previous_secret_expires_at = clock.now() + previous_valid_for if keep else None
    subscription.secret = _new_secret()
    await session.flush()
    return subscription


def previous_secret_in_use(subscription: WebhookSubscription) -> str | None:
    """The rotated-out secret while it still signs, else None."""
    expires = subscription.previous_secret_expires_at
    return subscription.previous_secret if expires is not None and clock.now() < expires else None


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def delete(session: AsyncSession, client: Principal, subscription_id: uuid.UUID, if_match: str | None) -> None:
    """Stops deliveries: the subscription is kept (its log stays readable), its pending deliveries die. The row is
    locked, so a change being made to it meanwhile waits, then meets the new version (412), never the reverse.
    If-Match is optional here (deleting needed none before subscriptions had an ETag), but checked when sent."""
    subscription = await get_own(session, client, subscription_id, lock=True)
    if if_match is not None:
        check_if_match(subscription.revision, if_match, "webhook")
    subscription.active, subscription.deleted_at = False, clock.now()
    await session.execute(update(Delivery).where(
        Delivery.consumer == CONSUMER, Delivery.target == str(subscription.id), Delivery.state == PENDING)
        .values(state=DEAD, last_error="subscription deleted"))


async def deliveries(session: AsyncSession, client: Principal, subscription_id: uuid.UUID,
                     page: PageParams) -> tuple[list[Any], str | None]:
    """The delivery log, newest first: (Delivery, event uuid, event type) rows; a deleted subscription's too."""
    await get_own(session, client, subscription_id, deleted=True)
    stmt: Any = (select(Delivery, OutboxEvent.event_id, OutboxEvent.event_type)
            .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .where(Delivery.consumer == CONSUMER, Delivery.target == str(subscription_id)))
    return await keyset_page(session, stmt, order=[(Delivery.id, True)], params=page,
                             key=lambda row: (row[0].id,), scalars=False)


def _log_row(subscription_id: uuid.UUID, delivery_id: int) -> Any:
    return (select(Delivery, OutboxEvent.event_id, OutboxEvent.event_type)
            .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .where(Delivery.id == delivery_id, Delivery.consumer == CONSUMER, Delivery.target == str(subscription_id))
            .execution_options(populate_existing=True))


async def replay(session: AsyncSession, client: Principal, subscription_id: uuid.UUID, delivery_id: int) -> Any:
    """Make a failed or dead delivery due now, with a fresh retry schedule; a delivered one is not sent twice
    (409 `conflict`), nor one a worker is sending right now (409 `delivery_in_progress`). Returns the log row."""
    await get_own(session, client, subscription_id)
    if (await session.execute(_log_row(subscription_id, delivery_id))).first() is None:
        raise not_found("delivery")
    outcome = await requeue(session, delivery_id)
    if outcome == "delivered":
        raise ProblemError("conflict", "This delivery succeeded already; only failed or dead ones are replayed.")
    if outcome == "sending":
        raise ProblemError("delivery_in_progress", "This delivery is being sent right now; its outcome shows in the "
                                                   "delivery log. Replay it if it fails.")
    if outcome == "missing":
        raise not_found("delivery")
    return (await session.execute(_log_row(subscription_id, delivery_id))).one()


# --- the consumer -------------------------------------------------------------------------------------------

async def _agency_of(session: AsyncSession, event: OutboxEvent) -> str | None:
    agency = event.payload.get("agency_code")
    if agency:
        return str(agency)
    return await session.scalar(select(Dossier.agency_code).where(Dossier.id == event.aggregate_id))


def _not_entitled(account: Account, agency: str | None) -> str | None:
    """Why the client may not receive an event about a dossier of `agency` (None: it may)."""
    if str(account.status) != "active":
        return f"client {account.status}"
    if READ_SCOPE not in (account.scopes or []):
        return f"client no longer holds the {READ_SCOPE} scope"
    if agency not in (account.agency_codes or []):
        return f"client no longer acts for agency {agency}"
    return None


class WebhookError(Exception):
    """A delivery attempt failed (the message is the delivery's last error)."""


class WebhookConsumer:
    name = CONSUMER

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport  # tests route deliveries to a recorder

    def retry_delays(self) -> Sequence[timedelta]:
        return RETRY_DELAYS

    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]:
        if event.aggregate_type != "dossier" or event.event_type not in WEBHOOK_EVENT_TYPES:
            return []
        # A subscription receives what happens after it was made: the worker fans an event out when it gets to
        # it, and a subscription made meanwhile (or after the worker was down for a while) got the backlog too.
        subscriptions = [s for s in (await session.execute(select(WebhookSubscription).where(
            WebhookSubscription.active.is_(True), WebhookSubscription.created_at <= event.created_at))).scalars()
            if event.event_type in (s.event_types or [])]
        if not subscriptions:
            return []
        agency = await _agency_of(session, event)
        allowed: dict[uuid.UUID, bool] = {}
        targets = []
        for subscription in subscriptions:
            if subscription.client_id not in allowed:
                account = await identity.get_account(session, subscription.client_id)
                allowed[subscription.client_id] = _not_entitled(account, agency) is None
            if allowed[subscription.client_id]:
                targets.append(Target(str(subscription.id), ordering_key=str(event.aggregate_id)))
        return targets

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        async with get_database().read_sessions() as session:
            subscription = await session.get(WebhookSubscription, uuid.UUID(delivery.target))
            if subscription is None or not subscription.active:
                raise Abandoned("subscription deleted")
            # Rights change after fan-out (a replay may come days later): the event goes only where it may go now.
            refusal = _not_entitled(await identity.get_account(session, subscription.client_id),
                                    await _agency_of(session, event))
        if refusal is not None:
            raise Abandoned(f"not sent: {refusal}")
        try:
            await ssrf.check_url(subscription.url)
        except ssrf.UnsafeUrl as error:
            raise WebhookError(f"target refused: {error}") from error
        body = event_body(event)
        headers = {"Content-Type": "application/json", "User-Agent": "dvc-service-webhooks/1",
                   SIGNATURE_HEADER: sign(subscription.secret, body, int(clock.now().timestamp()),
                                          previous_secret=previous_secret_in_use(subscription)),
                   "X-DVC-Event-Id": str(event.event_id), "X-DVC-Event-Type": event.event_type,
                   "X-DVC-Delivery-Id": str(delivery.id)}
        timeout = get_settings().webhook_timeout_s
        try:
            async with asyncio.timeout(timeout), httpx.AsyncClient(
                    transport=self.transport, timeout=httpx.Timeout(timeout), follow_redirects=False) as http:
                response = await http.post(subscription.url, content=body, headers=headers)
        except TimeoutError as error:
            raise WebhookError(f"no answer within {timeout:g} s") from error
        except httpx.HTTPError as error:
            raise WebhookError(f"{type(error).__name__}: {error}") from error
        if not 200 <= response.status_code < 300:
            raise WebhookError(f"HTTP {response.status_code}")

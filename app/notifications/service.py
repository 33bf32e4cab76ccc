"""Notification rules behind the routes: preferences, and the lists of a dossier's and of an account's messages with
their state."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.delivery import DEAD, DELIVERED, Delivery
from app.core.outbox import OutboxEvent
from app.core.pagination import PageParams, keyset_page
from app.core.problems import validation_problem
from app.identity import service as identity
from app.notifications.masking import mask
from app.notifications.models import NotificationMessage
from app.notifications.preferences import REQUIRED_KINDS, Preferences, preferences_of, save_preferences
from app.notifications.schemas import NotificationOut, PreferencesOut, PreferencesPatch


def preferences_out(prefs: Preferences) -> PreferencesOut:
    return PreferencesOut(email=prefs.email, sms=prefs.sms, zalo=prefs.zalo, language=prefs.language,
                          required_messages=sorted(REQUIRED_KINDS))


async def get_preferences(session: AsyncSession, account_id: uuid.UUID) -> Preferences:
    account = await identity.get_account(session, account_id)
    return await preferences_of(session, account_id, has_email=bool(account.email))


async def update_preferences(session: AsyncSession, account_id: uuid.UUID, patch: PreferencesPatch) -> Preferences:
    """Apply the changed fields; SMS and Zalo need a phone number on the account, email an address (422)."""
    account = await identity.get_account(session, account_id)
    current = await preferences_of(session, account_id, has_email=bool(account.email))
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise validation_problem([{"loc": ["body", field], "msg": "must not be null", "type": "value_error"}])
    errors = []
    if changes.get("email") and not account.email:
        errors.append({"loc": ["body", "email"], "msg": "the account has no email address", "type": "value_error"})
    for channel in ("sms", "zalo"):
        if changes.get(channel) and not account.phone:
            errors.append({"loc": ["body", channel], "type": "value_error",
                           "msg": "the account has no phone number (PATCH /v1/accounts/me first)"})
    if errors:
        raise validation_problem(errors)
    return await save_preferences(session, account_id, current, changes)


def _state(delivery: Delivery | None) -> str:
    """Issue 10's words: retried, visible as `pending`, then `failed` after the configured attempts."""
    if delivery is not None and delivery.state == DELIVERED:
        return "delivered"
    if delivery is not None and delivery.state == DEAD:
        return "failed"
    return "pending"


def _with_delivery(condition: Any) -> Any:
    """Messages matching `condition`, each with the outbox delivery row that carries it (its state)."""
    return (select(NotificationMessage, Delivery).outerjoin(Delivery, and_(
        Delivery.consumer == "notifications", Delivery.event_id == NotificationMessage.event_id,
        Delivery.target == NotificationMessage.channel)).where(condition))


def _out(message: NotificationMessage, delivery: Delivery | None, *, show_errors: bool) -> NotificationOut:
    state = _state(delivery)
    return NotificationOut(
        id=message.id, event_type=message.event_type, kind=message.kind, channel=message.channel,
        recipient=mask(message.recipient), language=message.language,
        required=message.required, subject=message.subject, state=state,
        attempts=delivery.attempts if delivery else 0,
        last_error=(delivery.last_error if delivery and show_errors else None),
        created_at=message.created_at,
        next_attempt_at=delivery.next_attempt_at if delivery and state == "pending" else None,
        delivered_at=delivery.delivered_at if delivery else None)


async def list_messages(session: AsyncSession, dossier_id: uuid.UUID, page: PageParams, *,
                        show_errors: bool) -> tuple[list[NotificationOut], str | None]:
    stmt = _with_delivery(NotificationMessage.dossier_id == dossier_id)
    rows, cursor = await keyset_page(session, stmt, order=[(NotificationMessage.id, False)], params=page,
                                     key=lambda row: (row[0].id,), scalars=False)
    return [_out(message, delivery, show_errors=show_errors) for message, delivery in rows], cursor


def about_mandate(mandate_id: uuid.UUID) -> Any:
    """The message was sent for an event about that mandate (its outbox event's aggregate): one indexed probe of
    `ix_outbox_events_aggregate` per row, in the page's own statement."""
    return exists().where(OutboxEvent.id == NotificationMessage.event_id,
                          OutboxEvent.aggregate_type == "representative", OutboxEvent.aggregate_id == mandate_id)


async def list_account_messages(session: AsyncSession, account_id: uuid.UUID, page: PageParams, *,
                                mandate_id: uuid.UUID | None = None) -> tuple[list[NotificationOut], str | None]:
    """The account-level messages sent to `account_id` (mandates), newest first. Only rows naming the account
    as recipient and no dossier: a dossier's messages stay behind their own route and its access rules (a
    dossier's readers are not only its applicant, and a former representative must not keep reading them here).
    Applicants only: no delivery errors.

    A representative reading an organisation's messages (`mandate_id`: the mandate they act under) sees only those
    about that mandate: an authorisation (Decree 45/2020) lets its holder act for the organisation, not read what
    the organisation is told about its other representatives (their names, terms and withdrawals). Decided in the
    statement, so pages and cursors count only what the reader may see."""
    condition = and_(NotificationMessage.account_id == account_id, NotificationMessage.dossier_id.is_(None))
    if mandate_id is not None:
        condition = and_(condition, about_mandate(mandate_id))
    stmt = _with_delivery(condition)
    rows, cursor = await keyset_page(session, stmt, order=[(NotificationMessage.id, True)], params=page,
                                     key=lambda row: (row[0].id,), scalars=False)
    return [_out(message, delivery, show_errors=False) for message, delivery in rows], cursor

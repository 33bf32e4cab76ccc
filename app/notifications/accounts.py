"""Account-level messages: what an outbox event about an account (not a dossier) means, to whom, and the template's
values. Today: a representative's mandate (app.identity.mandate_events).

`representative.added` -> mandate_given, `.changed` -> mandate_changed, `.removed` -> mandate_withdrawn, `.ending` ->
mandate_ending, `.started` -> mandate_started, each to the citizen; `representative.expiring` -> mandate_expiring and
`.effective` -> mandate_started (worded for the organisation: `to_organisation`), to the organisation. Their
message rows carry `account_id` (the recipient) instead of a dossier, and use the account's own addresses
(app.notifications.preferences).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import LOCAL_TZ
from app.core.outbox import OutboxEvent
from app.identity.models import Account, AccountKind
from app.notifications.compose import when

# event type -> (message kind, the payload field naming the recipient account)
MESSAGES = {"representative.added": ("mandate_given", "citizen_account_id"),
            "representative.changed": ("mandate_changed", "citizen_account_id"),
            "representative.removed": ("mandate_withdrawn", "citizen_account_id"),
            "representative.expiring": ("mandate_expiring", "organisation_id"),
            "representative.ending": ("mandate_ending", "citizen_account_id"),
            "representative.started": ("mandate_started", "citizen_account_id"),
            "representative.effective": ("mandate_started", "organisation_id")}


def message_for(event: OutboxEvent) -> tuple[str, uuid.UUID] | None:
    """(message kind, recipient account id) for an account-level event, or None when it sends nothing."""
    found = MESSAGES.get(event.event_type) if event.aggregate_type == "representative" else None
    if found is None:
        return None
    kind, recipient = found
    return kind, uuid.UUID(str(event.payload[recipient]))


def term_end(value: str | None, language: str) -> str | None:
    """A term's end as people say it: a paper "until the end of 31/12/2027" is stored as local midnight the day
    after, and reads 'hết ngày 31/12/2027' / 'the end of 31/12/2027'; another instant, as `when` shows it."""
    if not value:
        return None
    moment = datetime.fromisoformat(value).astimezone(LOCAL_TZ)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        day = moment - timedelta(days=1)
        return f"hết ngày {day:%d/%m/%Y}" if language == "vi" else f"the end of {day:%d/%m/%Y}"
    return when(moment, language)


def term_start(value: str | None, language: str) -> str | None:
    """A term's start as people say it: a paper "from 01/03/2027" is stored as that day's local midnight, and reads
    'ngày 01/03/2027' / '01/03/2027'; another instant, as `when` shows it."""
    if not value:
        return None
    moment = datetime.fromisoformat(value).astimezone(LOCAL_TZ)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"ngày {moment:%d/%m/%Y}" if language == "vi" else f"{moment:%d/%m/%Y}"
    return when(moment, language)


async def context_for(session: AsyncSession, kind: str, language: str, recipient: Account,
                      event: OutboxEvent) -> dict[str, Any]:
    """Every value the mandate templates use (all keys always present: StrictUndefined)."""
    payload = event.payload
    organisation = await session.get(Account, uuid.UUID(str(payload["organisation_id"])))
    citizen = await session.get(Account, uuid.UUID(str(payload["citizen_account_id"])))
    return {
        "lang": language, "recipient_name": recipient.name,
        "to_organisation": recipient.kind == AccountKind.organisation,
        "organisation_name": (organisation.name if organisation else None) or "-",
        "tax_code": (organisation.tax_code if organisation else None) or "-",
        "citizen_name": (citizen.name if citizen else None) or "-",
        "valid_from": term_start(payload.get("valid_from"), language),
        "previous_valid_from": term_start(payload.get("previous_valid_from"), language),
        "valid_until": term_end(payload.get("valid_until"), language),
        "previous_valid_until": term_end(payload.get("previous_valid_until"), language),
    }

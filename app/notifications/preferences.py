"""Who gets a message, on which channels: the applicant's preferences and the rule for required messages.

The rule (documented in the API too):
- An account's choices are `email`, `sms`, `zalo` (each on or off) and `language` ("vi" or "en"). Without a
  saved choice: email on (every applicant account registers with an email), SMS and Zalo off, Vietnamese.
- A channel is used when the applicant chose it, has an address for it (email address; phone number for SMS
  and Zalo) and the service has the channel configured.
- Legally required messages (supplement request, payment request, apology with a new date, refusal: the
  Circular 01/2018 forms and Resolution 131's apology) go out even when that leaves no channel: then the
  first channel in the order email, SMS, Zalo that is configured and for which the applicant has an address
  is used, whatever the preferences say.
- Dossiers without an account (desk and postal intake) use the contact given at intake: email if an address
  was given, SMS if a phone number was given; Zalo needs the applicant's consent, so never; Vietnamese.
- A required message whose channels all gave up (every attempt failed) goes to the next channel of that order
  it has not tried, until one delivers or none is left.
- Email and SMS go to the dossier's contact (given at submission or intake: the applicant may name another
  address for one dossier), else the account's current one.
- Zalo goes to the account's own phone number as it is now, never to a dossier's contact: a Zalo message lands in
  the Zalo account registered on a number, and the applicant consented (the `zalo` choice, which needs a phone on
  the account) for their own number. A contact typed at the desk may be a relative's or an agent's, and a copy of
  the account's number taken at intake goes stale when the account changes it. An account without a phone number
  gets no Zalo message, required or not (email and SMS still may).
- Messages about an account rather than a dossier (a representative's mandate given, changed or withdrawn, sent
  to the citizen; a mandate's term about to end, sent to the organisation and to the citizen; a term given in advance
  begun, sent to both) go to that account's own email address
  and phone number, by its choices. None is legally required: with every channel off, none is sent.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.dossiers.models import Dossier
from app.identity import service as identity
from app.notifications.models import NotificationPreference

CHANNEL_ORDER = ("email", "sms", "zalo")
REQUIRED_KINDS = frozenset({"supplement_requested", "payment_requested", "apology", "refused"})


@dataclass(frozen=True)
class Preferences:
    email: bool
    sms: bool
    zalo: bool
    language: str

    def wants(self, channel: str) -> bool:
        return bool(getattr(self, channel))


@dataclass(frozen=True)
class Route:
    channel: str
    recipient: str
    required: bool  # sent only because the message is legally required


async def preferences_of(session: AsyncSession, account_id: uuid.UUID, *, has_email: bool) -> Preferences:
    row = await session.get(NotificationPreference, account_id)
    if row is None:
        return Preferences(email=has_email, sms=False, zalo=False, language="vi")
    return Preferences(email=row.email, sms=row.sms, zalo=row.zalo, language=row.language)


async def save_preferences(session: AsyncSession, account_id: uuid.UUID, current: Preferences,
                           changes: dict[str, Any]) -> Preferences:
    """Write only the `changes` (the account's row created from `current` if it has none) and return the saved
    choices. One upsert: two first PATCHes at once both succeed (a read-then-insert made the second a unique
    violation, a 500), and concurrent PATCHes of different fields all stick (a read-modify-write of every
    column lost the other's change)."""
    table: Table = NotificationPreference.__table__  # type: ignore[assignment]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = clock.now()
    stmt = insert(table).values(account_id=account_id, **{**asdict(current), **changes}, updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.account_id], set_={**changes, "updated_at": now})
    row = (await session.execute(stmt.returning(table.c.email, table.c.sms, table.c.zalo, table.c.language))).one()
    return Preferences(email=row.email, sms=row.sms, zalo=row.zalo, language=row.language)


async def _addresses(session: AsyncSession, dossier: Dossier) -> tuple[dict[str, str | None], Preferences]:
    email, phone, zalo = dossier.contact_email, dossier.contact_phone, None
    if dossier.applicant_id is not None:
        account = await identity.get_account(session, dossier.applicant_id)
        email, phone = email or account.email, phone or account.phone
        zalo = account.phone  # consent is the account's, for its own number (see the rule above)
        prefs = await preferences_of(session, dossier.applicant_id, has_email=bool(account.email))
    else:
        prefs = Preferences(email=True, sms=True, zalo=False, language="vi")
    return {"email": email, "sms": phone, "zalo": zalo}, prefs


async def routes_for(session: AsyncSession, dossier: Dossier, kind: str,
                     configured: tuple[str, ...]) -> tuple[list[Route], str]:
    """The channels (with addresses) a message of `kind` about `dossier` goes to, and its language."""
    addresses, prefs = await _addresses(session, dossier)
    usable = [c for c in CHANNEL_ORDER if c in configured and addresses[c]]
    routes = [Route(c, str(addresses[c]), False) for c in usable if prefs.wants(c)]
    if not routes and kind in REQUIRED_KINDS and usable:
        routes = [Route(usable[0], str(addresses[usable[0]]), True)]
    return routes, prefs.language


async def account_routes(session: AsyncSession, account_id: uuid.UUID,
                         configured: tuple[str, ...]) -> tuple[list[Route], str]:
    """The channels (with addresses) an account-level message to `account_id` goes to, and its language."""
    account = await identity.get_account(session, account_id)
    addresses = {"email": account.email, "sms": account.phone, "zalo": account.phone}
    prefs = await preferences_of(session, account_id, has_email=bool(account.email))
    routes = [Route(c, str(addresses[c]), False) for c in CHANNEL_ORDER
              if c in configured and addresses[c] and prefs.wants(c)]
    return routes, prefs.language


async def fallback_route(session: AsyncSession, dossier: Dossier, configured: tuple[str, ...],
                         tried: set[str]) -> Route | None:
    """For a required message whose every channel gave up: the next channel, in the order email, SMS, Zalo, that
    the service has and the applicant has an address for and that this message has not tried."""
    addresses, _ = await _addresses(session, dossier)
    for channel in CHANNEL_ORDER:
        if channel in configured and channel not in tried and addresses[channel]:
            return Route(channel, str(addresses[channel]), True)
    return None

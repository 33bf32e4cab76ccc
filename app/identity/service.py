"""Applicant accounts: registration from a verified token, contacts, and representatives.

Identifiers come from the token's claims (names configurable), never from the request body: the identity
provider vouches for them, the applicant does not.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.direct import DirectConnection, DirectStatement
from app.core.etag import check_if_match, flush_versioned
from app.core.pagination import PageParams, keyset_page
from app.core.problems import ProblemError, not_found, validation_problem
from app.core.settings import get_settings
from app.identity import audit, mandate_events
from app.identity.identifiers import is_citizen_id, is_tax_code
from app.identity.models import Account, AccountKind, AccountStatus, Identity, Representative, mandate_in_force
from app.identity.schemas import ContactsPatch, Name, RegistrationIn, RepresentativePatch
from app.identity.tokens import VerifiedToken

_NAME: TypeAdapter[str] = TypeAdapter(Name)


def _claim(token: VerifiedToken, name: str) -> str | None:
    value = token.claims.get(name)
    if value is None or value == "":
        return None
    return str(value).strip()


def applicant_identifier(token: VerifiedToken) -> tuple[AccountKind, str]:
    """(kind, identification number) from the token; a tax code claim makes it an organisation."""
    settings = get_settings()
    tax_code = _claim(token, settings.oidc_claim_tax_code)
    if tax_code is not None:
        if not is_tax_code(tax_code):
            raise validation_problem([{"loc": ["token", settings.oidc_claim_tax_code],
                                       "msg": "not a valid tax code (10 digits with check digit, -NNN, or 12 digits)"}])
        return AccountKind.organisation, tax_code
    citizen_id = _claim(token, settings.oidc_claim_citizen_id)
    if citizen_id is not None:
        if not is_citizen_id(citizen_id):
            raise validation_problem([{"loc": ["token", settings.oidc_claim_citizen_id],
                                       "msg": "not a 12-digit personal identification number"}])
        return AccountKind.citizen, citizen_id
    raise validation_problem([{"loc": ["token"], "msg": "the token carries no identification number "
                               f"({settings.oidc_claim_citizen_id} or {settings.oidc_claim_tax_code})"}])


async def register(session: AsyncSession, token: VerifiedToken, data: RegistrationIn) -> Account:
    """Register the token's identity; link it to the account already holding its identification number."""
    kind, number = applicant_identifier(token)
    known = await session.scalar(select(Identity.id).where(Identity.issuer == token.issuer,
                                                           Identity.subject == token.subject))
    if known is not None:
        raise ProblemError("account_exists", "This identity is already registered.")
    column = Account.citizen_id if kind is AccountKind.citizen else Account.tax_code
    account = await session.scalar(select(Account).where(Account.kind == kind, column == number))
    if account is None:
        account = await _create_applicant(session, token, kind, number, data)
    identity = Identity(account_id=account.id, issuer=token.issuer, subject=token.subject)
    session.add(identity)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent registration of the same identity or number won the race
        raise ProblemError("account_exists", "This identity is already registered.") from None
    audit.record(session, account.id, account.id, "identity.linked",
                 {"identity": {"old": None, "new": {"issuer": token.issuer, "subject": token.subject}}})
    return account


async def _create_applicant(session: AsyncSession, token: VerifiedToken, kind: AccountKind, number: str,
                            data: RegistrationIn) -> Account:
    """A new account for the number, or the one a concurrent registration of the same number (the person
    arriving through another identity provider at the same moment) has just created: its unique violation was
    a 500. The savepoint keeps the transaction usable after that violation on PostgreSQL."""
    account = _new_applicant(token, kind, number, data)
    try:
        async with session.begin_nested():
            session.add(account)
    except IntegrityError:
        column = Account.citizen_id if kind is AccountKind.citizen else Account.tax_code
        winner = await session.scalar(select(Account).where(Account.kind == kind, column == number))
        if winner is None:
            raise
        return winner
    audit.record(session, account.id, account.id, "account.registered",
                 audit.created(account, ("kind", "citizen_id", "tax_code", "name", "email", "phone", "address",
                                         "status")))
    return account


def _token_name(token: VerifiedToken) -> str | None:
    """The name claim, checked like a name in a body: a non-text claim was stored as its Python repr, and one
    too long or with a NUL was kept by SQLite and refused by PostgreSQL without naming the claim."""
    claim = get_settings().oidc_claim_name
    value = token.claims.get(claim)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return _NAME.validate_python(value)
    except ValidationError:
        raise validation_problem([{"loc": ["token", claim], "msg": "not a name (text of at most 400 characters, "
                                   "without control characters)"}]) from None


def _new_applicant(token: VerifiedToken, kind: AccountKind, number: str, data: RegistrationIn) -> Account:
    if kind is AccountKind.citizen:
        return Account(id=uuid.uuid4(), kind=kind, citizen_id=number, name=_token_name(token),
                       email=str(data.email), phone=data.phone, address=data.address, status=AccountStatus.active)
    name = data.name or _token_name(token)
    if not name:
        raise validation_problem([{"loc": ["body", "name"], "msg": "an organisation needs its registered name"}])
    return Account(id=uuid.uuid4(), kind=kind, tax_code=number, name=name, email=str(data.email),
                   phone=data.phone, address=data.address, status=AccountStatus.active)


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise not_found("account")
    return account


# An account as a dossier records its applicant (the direct connection: no ORM, no session).
_PARTY = DirectStatement(select(Account.kind, Account.name, Account.citizen_id, Account.tax_code)
                         .where(Account.id == bindparam("account_id")))


async def party_of(connection: DirectConnection, account_id: uuid.UUID) -> Mapping[str, Any]:
    """The account's kind, name, CCCD and tax code; 404 `not_found` if there is none."""
    row = await connection.fetchrow(_PARTY, account_id=account_id)
    if row is None:
        raise not_found("account")
    return row


# The account row locked and read afresh: accounts are versioned (app.core.etag), and a change made to a copy read
# before another request's change committed would fail at flush; an applicant's contacts need no If-Match, so
# concurrent changes queue and the last one wins.
_ACCOUNT_FOR_UPDATE = (select(Account).where(Account.id == bindparam("account_id")).with_for_update()
                       .execution_options(populate_existing=True))


async def update_contacts(session: AsyncSession, account_id: uuid.UUID, patch: ContactsPatch) -> Account:
    account = (await session.execute(_ACCOUNT_FOR_UPDATE, {"account_id": account_id})).scalar_one_or_none()
    if account is None:
        raise not_found("account")
    updates: dict[str, Any] = {}
    for field in patch.model_fields_set:
        value = getattr(patch, field)
        if value is None and field == "email":
            raise validation_problem([{"loc": ["body", "email"], "msg": "email cannot be removed"}])
        updates[field] = str(value) if field == "email" else value
    diff = audit.apply_changes(account, updates)
    if diff:
        audit.record(session, account.id, account.id, "account.contacts_changed", diff)
        await session.flush()
    return account


# --- representatives ---------------------------------------------------------------------------------------

def same_name(registered: str | None, given: str) -> bool:
    """Names compared as people write them: case, spacing and Unicode composition aside, diacritics not."""
    def key(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).casefold().split())
    return registered is not None and key(registered) == key(given)


class Mandate(NamedTuple):
    """A representative link, its citizen, and whether it lets the citizen act now (decided in SQL)."""

    link: Representative
    citizen: Account
    in_force: bool


_TERM_FIELDS = ("valid_from", "valid_until")
_PAST_HINTS = ("for an authorisation in force at once, leave it out or null",
               "to end the authorisation now, withdraw it")


def _check_term(valid_from: datetime | None, valid_until: datetime | None, changed: set[str]) -> None:
    """A changed bound must lie in the future: a term already over at creation is a mistake (a wrong year, a date
    taken for a moment), and moving a bound into the past would rewrite what the citizen was allowed to do (DELETE
    ends a mandate now; a start left out makes it act at once). The term must start before it ends: the error names
    the bound the caller changed (the end when both were)."""
    errors = [{"loc": ["body", field], "msg": f"must be in the future ({hint})"}
              for field, value, hint in zip(_TERM_FIELDS, (valid_from, valid_until), _PAST_HINTS, strict=True)
              if field in changed and value is not None and value <= clock.now()]
    if not errors and valid_from is not None and valid_until is not None and valid_from >= valid_until:
        errors = [{"loc": ["body", "valid_until"], "msg": "must be after valid_from"} if "valid_until" in changed
                  else {"loc": ["body", "valid_from"], "msg": "must be before valid_until"}]
    if errors:
        raise validation_problem(errors)


def _term(link: Representative) -> dict[str, Any]:
    """The mandate as the audit trail records it."""
    return {"id": str(link.id), "citizen_account_id": str(link.citizen_account_id),
            "valid_from": clock.utc_text(link.valid_from), "valid_until": clock.utc_text(link.valid_until)}


async def add_representative(session: AsyncSession, organisation_id: uuid.UUID, citizen_id: str, name: str,
                             valid_until: datetime | None = None, valid_from: datetime | None = None) -> Mandate:
    """Link a registered citizen named by identification number and name: one answer whether no account has the
    number or its name differs, so the route is no lookup of who is registered and what they are called."""
    _check_term(valid_from, valid_until, set(_TERM_FIELDS))
    citizen = await session.scalar(select(Account).where(Account.kind == AccountKind.citizen,
                                                         Account.citizen_id == citizen_id))
    if citizen is None or not same_name(citizen.name, name):
        raise validation_problem([{"loc": ["body", "citizen_id"],
                                   "msg": "no registered citizen account has this identification number and name"}])
    existing = await session.scalar(select(Representative).where(
        Representative.organisation_id == organisation_id, Representative.citizen_account_id == citizen.id))
    if existing is not None:
        raise _already_linked()
    link = Representative(id=uuid.uuid4(), organisation_id=organisation_id, citizen_account_id=citizen.id,
                          valid_from=valid_from, valid_until=valid_until)
    session.add(link)
    try:
        await session.flush()
    except IntegrityError:
        raise _already_linked() from None
    audit.record(session, organisation_id, organisation_id, "representative.added",
                 {"representative": {"old": None, "new": {**_term(link), "citizen_id": citizen_id}}})
    await mandate_events.announce(session, "representative.added", link)
    # Bounds lie in the future (checked above): in force now unless it starts later.
    return Mandate(link, citizen, in_force=valid_from is None)


def _already_linked() -> ProblemError:
    return ProblemError("conflict", "This citizen is already a representative of the organisation (an expired "
                                    "authorisation is renewed by changing its valid_until).")


# The organisation's links with their citizens and whether each is in force at `now` (the gate's own rule).
_LINKS = (select(Representative, Account, mandate_in_force(bindparam("now")).label("in_force"))
          .join(Account, Account.id == Representative.citizen_account_id)
          .where(Representative.organisation_id == bindparam("org_id")))
_OWN_LINK = _LINKS.where(Representative.id == bindparam("link_id"))
# Read to change or withdraw it: locked (PostgreSQL; SQLite's write transaction is exclusive) and read afresh, so a
# concurrent change or withdrawal waits and then sees this one's outcome instead of failing on the version counter.
_LOCK_OWN_LINK = (_OWN_LINK.with_for_update(of=Representative).execution_options(populate_existing=True))
_LINK_ORDER = [(Representative.created_at, False), (Representative.id, False)]


_LINKS_IN_FORCE = _LINKS.where(mandate_in_force(bindparam("now")))
_LINKS_ENDED = _LINKS.where(~mandate_in_force(bindparam("now")))


async def list_representatives(session: AsyncSession, organisation_id: uuid.UUID, page: PageParams,
                               in_force: bool | None = None) -> tuple[list[Mandate], str | None]:
    """A page of the organisation's links with their citizens, oldest first, expired ones included unless
    `in_force` asks for one kind."""
    stmt = _LINKS if in_force is None else _LINKS_IN_FORCE if in_force else _LINKS_ENDED
    rows, cursor = await keyset_page(session, stmt, order=_LINK_ORDER, params=page, scalars=False,  # type: ignore[arg-type]
                                     key=lambda row: (row[0].created_at, row[0].id),
                                     parameters={"org_id": organisation_id, "now": clock.now()})
    return [Mandate(link, citizen, bool(in_force)) for link, citizen, in_force in rows], cursor


async def get_representative(session: AsyncSession, organisation_id: uuid.UUID, representative_id: uuid.UUID,
                             *, lock: bool = False) -> Mandate:
    """The organisation's own link and its citizen; 404 for any other id (another organisation's included)."""
    stmt = _LOCK_OWN_LINK if lock else _OWN_LINK
    row = (await session.execute(stmt, {"link_id": representative_id, "org_id": organisation_id,
                                        "now": clock.now()})).first()
    if row is None:
        raise not_found("representative")
    return Mandate(row[0], row[1], bool(row[2]))


async def change_representative(session: AsyncSession, organisation_id: uuid.UUID, representative_id: uuid.UUID,
                                patch: RepresentativePatch, if_match: str | None) -> Mandate:
    """Move the mandate's start or end if `if_match` names its current ETag (app.core.etag), else 428/412."""
    mandate = await get_representative(session, organisation_id, representative_id, lock=True)
    link = mandate.link
    check_if_match(link.version, if_match, "representative")
    changed = {field for field in _TERM_FIELDS
               if field in patch.model_fields_set and getattr(patch, field) != getattr(link, field)}
    if not changed:
        return mandate
    term = {field: getattr(patch if field in changed else link, field) for field in _TERM_FIELDS}
    _check_term(term["valid_from"], term["valid_until"], changed)
    before = _term(link)
    link.valid_from, link.valid_until = term["valid_from"], term["valid_until"]
    audit.record(session, organisation_id, organisation_id, "representative.changed",
                 {"representative": {"old": before, "new": _term(link)}})
    await mandate_events.announce(session, "representative.changed", link,
                                  previous_valid_from=before["valid_from"], previous_valid_until=before["valid_until"])
    await flush_versioned(session, link, "representative")
    return await get_representative(session, organisation_id, representative_id)


async def remove_representative(session: AsyncSession, organisation_id: uuid.UUID, representative_id: uuid.UUID,
                                if_match: str | None = None) -> None:
    """Withdraw the mandate; with `if_match` (optional), only if its term is still the one the caller read (412)."""
    link, citizen, _ = await get_representative(session, organisation_id, representative_id, lock=True)
    if if_match is not None:
        check_if_match(link.version, if_match, "representative")
    await session.delete(link)
    audit.record(session, organisation_id, organisation_id, "representative.removed",
                 {"representative": {"old": {**_term(link), "citizen_id": citizen.citizen_id}, "new": None}})
    await mandate_events.announce(session, "representative.removed", link)
    await session.flush()

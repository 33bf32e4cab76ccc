"""Starting a payment (online through a provider, or recorded at the desk) for what a dossier still owes.

One live attempt per obligation: checked under the obligation's row lock and backed by a partial unique
index, so concurrent "pay" clicks make one attempt and the others get 409 `payment_in_progress`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.problems import ProblemError, validation_problem
from app.core.settings import get_settings
from app.fees.callbacks import ISSUED_RECEIPT, record_success
from app.fees.models import CLOSED_DOSSIER_STATES, LIVE_STATES, AttemptState, FeeObligation, PaymentAttempt
from app.fees.obligations import list_obligations, lock_dossier_state, lock_obligation
from app.fees.providers import get_provider
from app.fees.providers.base import PaymentOrder, ProviderError


def _closed() -> ProblemError:
    return ProblemError("nothing_to_pay", "The dossier is closed; no fees can be paid for it.")


async def _owing_obligation(session: AsyncSession, dossier: object, *, at_desk: bool = False) -> FeeObligation:
    """The oldest obligation with a balance, locked; 409 `nothing_to_pay` if there is none. `at_desk`: the
    payer stands at the desk, so an online attempt they have not paid yet is given up (see `expire_stale`)."""
    if getattr(dossier, "state", None) in CLOSED_DOSSIER_STATES:
        raise _closed()
    for obligation in await list_obligations(session, dossier.id):  # type: ignore[attr-defined]
        # Expire before taking the obligation's lock: expiring locks attempt rows, and a callback or reconciler
        # holds an attempt's lock while it waits for the obligation's (the other order deadlocked on PostgreSQL).
        await expire_stale(session, obligation.id, unpaid_too=at_desk)
        locked = await lock_obligation(session, obligation.id)
        if locked.due - locked.paid > 0:
            # Checked again under the lock: the dossier was read before it, and a withdrawal may have come since.
            if await lock_dossier_state(session, locked.dossier_id) in CLOSED_DOSSIER_STATES:
                raise _closed()
            return locked
    raise ProblemError("nothing_to_pay", "Nothing is owed on this dossier.")


async def expire_stale(session: AsyncSession, obligation_id: uuid.UUID, *, unpaid_too: bool = False) -> None:
    """Attempts past their 90 minutes stop being live; with `unpaid_too` (a payment at the desk), also those
    whose payer has not paid at the provider (`created`, `started`), instead of keeping the payer waiting at the
    desk for up to 90 minutes. Either way the provider was not asked, so reconciliation asks it for a day; money
    it then reports is credited or flagged for a refund (compare-and-set: a late success still wins later).
    Never a `submitted` attempt: the provider said the payer has paid, so giving it up on our clock let the same
    fees be paid twice; it stays live until the provider settles it or stops saying so (app.fees.reconcile), or
    finance cancels it after asking the provider (app.fees.cancel)."""
    now = clock.now()
    unpaid = PaymentAttempt.state.in_((AttemptState.created.value, AttemptState.started.value))
    stale = unpaid if unpaid_too else (PaymentAttempt.expires_at <= now) & unpaid
    await session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.obligation_id == obligation_id, PaymentAttempt.state.in_(LIVE_STATES), stale)
        .values(state=AttemptState.expired.value, completed_at=now, updated_at=now))


async def _live_attempt(session: AsyncSession, obligation_id: uuid.UUID) -> PaymentAttempt | None:
    stmt = select(PaymentAttempt).where(PaymentAttempt.obligation_id == obligation_id,
                                        PaymentAttempt.state.in_(LIVE_STATES))
    return (await session.execute(stmt)).scalars().first()


async def _new_attempt(session: AsyncSession, obligation: FeeObligation, agency_code: str, *, provider: str,
                       amount: int, payer_id: uuid.UUID | None, return_url: str | None,
                       receipt: str | None = None) -> PaymentAttempt:
    # Stale attempts were expired by _owing_obligation, before the obligation's lock (see there); one that turned
    # stale since is still live here: 409, and a retry goes through.
    live = await _live_attempt(session, obligation.id)
    if live is not None:
        raise ProblemError("payment_in_progress", "A payment for these fees is already under way.",
                           extra={"payment_id": str(live.id)})
    now = clock.now()
    attempt = PaymentAttempt(
        id=uuid.uuid4(), obligation_id=obligation.id, dossier_id=obligation.dossier_id, agency_code=agency_code,
        provider=provider,
        provider_ref=f"DVC{clock.local(now):%y%m%d}{secrets.token_hex(6).upper()}", amount=amount,
        state=AttemptState.created.value, credited=False, refunded=0, payer_id=payer_id, return_url=return_url,
        created_at=now, updated_at=now, expires_at=now + timedelta(seconds=get_settings().payment_attempt_ttl_s),
        # A desk receipt's number is set before the flush below, so that its unique indexes settle a race too.
        receipt_number=receipt, provider_txn_id=receipt)
    try:
        async with session.begin_nested():
            # Added inside the savepoint: begin_nested() flushes pending objects first, and a conflict there
            # would abort the whole transaction instead of only the savepoint.
            session.add(attempt)
            await session.flush()
    except IntegrityError:
        # Another transaction won a unique index: the receipt number's in the agency (it has committed, so it is
        # visible now), or else the one live attempt per obligation.
        if receipt is not None and await _receipt_taken(session, agency_code, receipt):
            raise _receipt_conflict() from None
        raise ProblemError("payment_in_progress", "A payment for these fees is already under way.") from None
    return attempt


async def _receipt_taken(session: AsyncSession, agency_code: str, receipt: str) -> bool:
    """Paper receipt books are per agency: another agency's receipt of the same number is another receipt."""
    stmt = select(PaymentAttempt.id).where(PaymentAttempt.agency_code == agency_code,
                                           PaymentAttempt.receipt_number == receipt)
    return (await session.execute(stmt)).first() is not None


def _receipt_conflict() -> ProblemError:
    return ProblemError("conflict", "This receipt number is already recorded at this agency.")


async def start_payment(session: AsyncSession, dossier: object, *, provider_name: str, return_url: str,
                        payer_id: uuid.UUID, client_ip: str = "127.0.0.1") -> PaymentAttempt:
    """An attempt for the balance, registered with the provider; its `next_url` is where the payer goes."""
    if provider_name == "fakepay" and get_settings().env == "prod":
        # The local fake has no checkout page outside dev: its attempt would block paying for 90 minutes.
        raise validation_problem([{"loc": ["body", "provider"], "type": "provider_not_offered",
                                   "msg": "fakepay is the development fake; production takes real providers"}])
    provider = get_provider(provider_name)
    if not getattr(provider, "configured", True):
        # A provider this deployment has not set up is not on offer: the payer can choose another one now, where
        # a 503 said "try again later" about something no retry would change (and named our settings).
        raise validation_problem([{"loc": ["body", "provider"], "type": "provider_not_offered",
                                   "msg": f"{provider_name} is not offered here"}])
    _check_return_url(provider_name, getattr(provider, "return_url_length", None), return_url)
    obligation = await _owing_obligation(session, dossier)
    agency_code: str = dossier.agency_code  # type: ignore[attr-defined]
    attempt = await _new_attempt(session, obligation, agency_code, provider=provider.name,
                                 amount=obligation.due - obligation.paid, payer_id=payer_id, return_url=return_url)
    code = getattr(dossier, "code", None) or str(getattr(dossier, "id", ""))
    try:
        created = await provider.create(PaymentOrder(
            attempt_id=attempt.id, provider_ref=attempt.provider_ref, amount=attempt.amount,
            description=f"Thanh toan phi le phi ho so {code}", return_url=return_url,
            created_at=attempt.created_at, client_ip=client_ip))
    except ProviderError as error:
        raise ProblemError("payment_provider_unavailable",
                           f"The payment provider is not available: {error}") from None
    attempt.state = AttemptState.started.value
    attempt.next_url = created.next_url
    attempt.updated_at = clock.now()
    await session.flush()
    return attempt


def _check_return_url(provider_name: str, bounds: tuple[int, int] | None, return_url: str) -> None:
    """A return URL the provider takes: one it refuses would leave the attempt live, blocking paying again."""
    if bounds is not None and not bounds[0] <= len(return_url) <= bounds[1]:
        raise validation_problem([{"loc": ["body", "return_url"], "type": "return_url_length",
                                   "msg": f"{provider_name} takes a return URL of {bounds[0]} to {bounds[1]} "
                                          "characters"}])


async def counter_payment(session: AsyncSession, dossier: object, *, official_id: uuid.UUID,
                          receipt_number: str, amount: int | None) -> PaymentAttempt:
    """Cash or card at the desk, recorded by a finance official with the paper receipt's number."""
    if ISSUED_RECEIPT.fullmatch(receipt_number):
        raise validation_problem([{"loc": ["body", "receipt_number"], "type": "receipt_number_reserved",
                                   "msg": "BL-yymmdd-XXXXXXXXXX numbers are issued by the service to online "
                                          "payments"}])
    obligation = await _owing_obligation(session, dossier, at_desk=True)
    balance = obligation.due - obligation.paid
    paying = balance if amount is None else amount
    if not 0 < paying <= balance:
        raise ProblemError("validation_error", "The amount must be positive and at most the balance.",
                           errors=[{"loc": ["body", "amount"], "msg": f"must be between 1 and {balance}"}])
    agency_code: str = dossier.agency_code  # type: ignore[attr-defined]
    if await _receipt_taken(session, agency_code, receipt_number):
        raise _receipt_conflict()
    attempt = await _new_attempt(session, obligation, agency_code, provider="counter", amount=paying, payer_id=None,
                                 return_url=None, receipt=receipt_number)
    attempt.recorded_by = official_id
    await record_success(session, attempt, receipt_number)
    return attempt

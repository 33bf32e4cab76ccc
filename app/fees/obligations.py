"""Obligations: created from the pinned procedure version when the workflow asks (step 2.3, or the result),
read for the fees view, and credited when money arrives.

Crediting is the one place `paid` grows; it runs with the obligation row locked (FOR UPDATE on PostgreSQL;
SQLite's write transaction is already exclusive), so concurrent callbacks and reconciliation add up exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from app.core import clock
from app.core.problems import ProblemError
from app.dossiers.models import Dossier
from app.fees.models import FeeLine, FeeObligation, PaymentAttempt, Refund, RefundState, Stage
from app.fees.refund_due import obligation_refund_due
from app.workflow.hooks import Exemption


def _due_stage(item: dict[str, Any]) -> str:
    return str(item.get("due", "on_result"))


async def version_items(session: AsyncSession, dossier: Any) -> list[dict[str, Any]]:
    from app.catalogue import service as catalogue

    version = await catalogue.get_version(session, dossier.procedure_code, dossier.procedure_version)
    return [dict(i) for i in (getattr(version, "fee_items", None) or [])]


async def stage_items(session: AsyncSession, dossier: Any, stage: str) -> list[tuple[int, dict[str, Any]]]:
    """The version's fee items of this stage with their index in the version's list."""
    return [(i, item) for i, item in enumerate(await version_items(session, dossier)) if _due_stage(item) == stage]


async def get_obligation(session: AsyncSession, dossier_id: uuid.UUID, stage: str, *,
                         lock: bool = False) -> FeeObligation | None:
    stmt = select(FeeObligation).where(FeeObligation.dossier_id == dossier_id, FeeObligation.stage == stage)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


# Built once: on every credit and refund. Without the lines (a credit or refund moves totals only; the lines'
# eager load was one more statement per callback); touching `lines` after this lock raises instead of lying.
_LOCK_OBLIGATION = (select(FeeObligation).where(FeeObligation.id == bindparam("obligation_id")).with_for_update()
                    .options(raiseload(FeeObligation.lines)).execution_options(populate_existing=True))


async def lock_obligation(session: AsyncSession, obligation_id: uuid.UUID) -> FeeObligation:
    return (await session.execute(_LOCK_OBLIGATION, {"obligation_id": obligation_id})).scalar_one()


_LOCK_DOSSIER_STATE = select(Dossier.state).where(Dossier.id == bindparam("dossier_id")).with_for_update()


async def lock_dossier_state(session: AsyncSession, dossier_id: uuid.UUID) -> str:
    """The dossier's state with its row locked, taken after the obligation's lock (the order of the credit and
    its `confirm_payment`): money is taken or credited knowing whether the dossier was withdrawn meanwhile."""
    return str((await session.execute(_LOCK_DOSSIER_STATE, {"dossier_id": dossier_id})).scalar_one())


async def list_obligations(session: AsyncSession, dossier_id: uuid.UUID) -> Sequence[FeeObligation]:
    stmt = (select(FeeObligation).where(FeeObligation.dossier_id == dossier_id)
            .order_by(FeeObligation.created_at, FeeObligation.stage))
    return (await session.execute(stmt)).scalars().all()


def _refund_pending() -> ScalarSelect[int]:
    """What of the obligation's `refunded` is reserved by refunds still awaiting the provider: those of its credited
    payments' own money (the only ones its `refunded` counts; a surplus never touches the obligation)."""
    return (select(func.coalesce(func.sum(Refund.amount), 0))
            .join(PaymentAttempt, PaymentAttempt.id == Refund.attempt_id)
            .where(PaymentAttempt.dossier_id == FeeObligation.dossier_id,  # ix_payment_attempts_dossier
                   PaymentAttempt.obligation_id == FeeObligation.id, PaymentAttempt.credited.is_(True),
                   Refund.surplus_id.is_(None), Refund.state == RefundState.submitted.value)
            .scalar_subquery())


@dataclass(frozen=True)
class ObligationView:
    """An obligation as the fee view shows it: what its payments hold for a dossier that ended unprocessed
    (app.fees.refund_due), and what of its `refunded` the provider has not confirmed yet."""

    obligation: FeeObligation
    refund_due: int
    refund_pending: int


async def obligation_views(session: AsyncSession, dossier_id: uuid.UUID) -> list[ObligationView]:
    """The fee view's rows, in the order of `list_obligations`, in one statement."""
    stmt = (select(FeeObligation, obligation_refund_due(), _refund_pending())
            .join(Dossier, Dossier.id == FeeObligation.dossier_id)
            .where(FeeObligation.dossier_id == dossier_id)
            .order_by(FeeObligation.created_at, FeeObligation.stage))
    return [ObligationView(obligation, int(due), int(pending))
            for obligation, due, pending in (await session.execute(stmt)).all()]


def _check_exemptions(items: list[tuple[int, dict[str, Any]]], exemptions: list[Exemption],
                      stage: str) -> dict[int, str]:
    indexes = {i for i, _ in items}
    errors: list[dict[str, Any]] = []
    chosen: dict[int, str] = {}
    for n, exemption in enumerate(exemptions):
        if exemption.item not in indexes:
            errors.append({"loc": ["body", "exemptions", n, "item"],
                           "msg": f"no fee item {exemption.item} is due {stage}"})
        elif not exemption.reason.strip():
            errors.append({"loc": ["body", "exemptions", n, "reason"], "msg": "an exemption needs a reason"})
        else:
            chosen[exemption.item] = exemption.reason.strip()
    if errors:
        raise ProblemError("validation_error", "Some exemptions do not fit the procedure's fee items.",
                           errors=errors)
    return chosen


async def create_obligation(session: AsyncSession, dossier: Any, stage: str, *, official_id: uuid.UUID | None,
                            exemptions: list[Exemption]) -> FeeObligation | None:
    """The stage's obligation from the pinned version (idempotent: an existing one is returned unchanged).

    Lines are copies, so a later catalogue change never alters what was requested. Exempting every line
    leaves a zero obligation, settled at once.
    """
    existing = await get_obligation(session, dossier.id, stage, lock=True)
    if existing is not None:
        return existing
    items = await stage_items(session, dossier, stage)
    exempt = _check_exemptions(items, exemptions, stage)
    if not items:
        return None
    now = clock.now()
    lines = [FeeLine(position=p, item_index=i, kind=str(item.get("kind", "fee")), name=str(item.get("name", "")),
                     amount=int(item.get("amount", 0)), exempt=i in exempt, exemption_reason=exempt.get(i),
                     exempted_by=official_id if i in exempt else None)
             for p, (i, item) in enumerate(items)]
    due = sum(line.charged for line in lines)
    obligation = FeeObligation(dossier_id=dossier.id, stage=Stage(stage).value, due=due, paid=0, refunded=0,
                               requested_by=official_id, created_at=now, settled_at=now if due == 0 else None,
                               lines=lines)
    session.add(obligation)
    await session.flush()
    return obligation


def credit(obligation: FeeObligation, attempt: PaymentAttempt) -> bool:
    """Count a succeeded attempt's money towards the obligation (caller holds the lock); False if it would
    overpay, in which case nothing is credited and the caller flags the attempt for a refund."""
    if attempt.credited:
        return True
    if obligation.paid + attempt.amount > obligation.due:
        return False
    obligation.paid += attempt.amount
    attempt.credited = True
    if obligation.paid >= obligation.due and obligation.settled_at is None:
        obligation.settled_at = clock.now()
    return True

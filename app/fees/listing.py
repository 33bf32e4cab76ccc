"""Lists of payments: a dossier's, and the queue finance works from (flagged payments, money held for dossiers
that ended without being processed, those under way).

Who sees which payment is the dossier's visibility rule (app.dossiers.access), applied in SQL: applicants their
own dossiers' payments, officials their agency's, integrator clients their agencies'. Each page's surpluses are
read in one more statement, not one per payment.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.pagination import PageParams, keyset_page
from app.dossiers.access import VISIBILITY_SHAPES, Viewer, visibility
from app.dossiers.models import Dossier
from app.fees.models import PaymentAttempt, PaymentSurplus
from app.fees.refund_due import payment_refund_due
from app.fees.refunds import pending_refunds
from app.fees.schemas import PaymentFilters, PaymentOut, SurplusOut

_NEWEST_FIRST = [(PaymentAttempt.created_at, True), (PaymentAttempt.id, True)]


def _filter_clauses(filters: PaymentFilters) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    clauses: list[ColumnElement[bool]] = []
    values: dict[str, Any] = {}
    for name, column in (("state", PaymentAttempt.state), ("provider", PaymentAttempt.provider),
                         ("agency", Dossier.agency_code)):
        if getattr(filters, name) is not None:
            clauses.append(column == bindparam(f"f_{name}"))
            values[f"f_{name}"] = getattr(filters, name)
    if filters.flagged is not None:
        clauses.append(PaymentAttempt.flag.is_not(None) if filters.flagged else PaymentAttempt.flag.is_(None))
    if filters.refund_due is not None:
        clauses.append(payment_refund_due() if filters.refund_due else not_(payment_refund_due()))
    start, end = clock.local_day_range(filters.created_from, filters.created_to)
    if start is not None:
        clauses.append(PaymentAttempt.created_at >= bindparam("f_start"))
        values["f_start"] = start
    if end is not None:
        clauses.append(PaymentAttempt.created_at < bindparam("f_end"))
        values["f_end"] = end
    return clauses, values


def _visible(viewer: Viewer) -> tuple[Select[Any], dict[str, Any]]:
    shape, values = visibility(viewer)
    stmt = (select(PaymentAttempt).join(Dossier, Dossier.id == PaymentAttempt.dossier_id)
            .where(VISIBILITY_SHAPES[shape]))
    return stmt, values


async def list_payments(session: AsyncSession, viewer: Viewer, filters: PaymentFilters,
                        page: PageParams) -> tuple[list[PaymentOut], str | None]:
    """A page of the payments `viewer` may see, newest first, each with its surpluses."""
    stmt, values = _visible(viewer)
    clauses, filter_values = _filter_clauses(filters)
    attempts, cursor = await keyset_page(session, stmt.where(*clauses), order=_NEWEST_FIRST, params=page,
                                         key=lambda a: (a.created_at, a.id), parameters={**values, **filter_values})
    return await with_surpluses(session, attempts), cursor


async def payments_of_dossier(session: AsyncSession, dossier_id: uuid.UUID,
                              page: PageParams) -> tuple[list[PaymentOut], str | None]:
    """A page of one dossier's payments (the caller already sees it), newest first, each with its surpluses."""
    stmt = select(PaymentAttempt).where(PaymentAttempt.dossier_id == dossier_id)
    attempts, cursor = await keyset_page(session, stmt, order=_NEWEST_FIRST, params=page,
                                         key=lambda a: (a.created_at, a.id))
    return await with_surpluses(session, attempts), cursor


async def with_surpluses(session: AsyncSession, attempts: Sequence[PaymentAttempt]) -> list[PaymentOut]:
    """Each payment with its surpluses and, for it and each surplus, what refunds awaiting the provider hold back
    of `refunded` (shown apart as `refund_pending`, as the fee view and the receipt show it): two statements at
    most for a page, only when a payment has a flag or refunds."""
    found: dict[uuid.UUID, list[SurplusOut]] = defaultdict(list)
    pending = await pending_refunds(session, [a.id for a in attempts if a.refunded or a.flag])
    if any(attempt.flag for attempt in attempts):  # only a flagged payment can have surpluses
        stmt = (select(PaymentSurplus).where(PaymentSurplus.attempt_id.in_([a.id for a in attempts if a.flag]))
                .order_by(PaymentSurplus.created_at, PaymentSurplus.id))
        for surplus in (await session.execute(stmt)).scalars():
            held = pending.get((surplus.attempt_id, surplus.id), 0)
            found[surplus.attempt_id].append(SurplusOut.model_validate(surplus).model_copy(
                update={"refunded": surplus.refunded - held, "refund_pending": held}))
    out = []
    for attempt in attempts:
        held = pending.get((attempt.id, None), 0)
        out.append(PaymentOut.model_validate(attempt).model_copy(update={
            "surpluses": found[attempt.id], "refunded": attempt.refunded - held, "refund_pending": held}))
    return out


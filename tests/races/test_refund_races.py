"""Refunds racing each other, a late duplicate callback, a second payment of the same order, and
reconciliation (which asks the provider again about refunds still awaiting its answer)."""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx
from sqlalchemy import func, select

from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Fees
from tests.races.support import (
    code_of,
    later,
    money_is_consistent,
    money_of,
    no_server_error,
    paying,
    payment,
    refund,
    stagger,
)
from tests.support.identity_fixtures import DEFAULT_AGENCY

ROUNDS = 5


async def _refunded_events(dossier_id: str) -> int:
    async with get_database().read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.aggregate_id == uuid.UUID(dossier_id), OutboxEvent.event_type == "payment.refunded")) or 0)


async def test_refunds_duplicates_and_a_second_payment_at_once_move_money_once(
        client: httpx.AsyncClient, fees: Fees) -> None:
    """Two finance officials refund different amounts from the same screen (same expected_available) while the
    original success is delivered again and the payer pays the same order a second time: one refund (the other
    409 refund_amount_mismatch), one surplus. Then the rest of the payment and the surplus are refunded at once,
    next to a reconciliation pass: each refund moves money once at the provider and is announced once."""
    other_finance = await fees.accounts.official(DEFAULT_AGENCY, ["finance"])
    observed: collections.Counter[str] = collections.Counter()
    for n, started in enumerate(await paying(client, fees, ROUNDS)):
        case, pid, ref = started.case, started.pid, started.ref
        [original] = fees.bank.complete(ref)
        assert (await fees.deliver(client, original)).json()["outcome"] == "credited"
        second_payment = fees.bank.pay_again(ref)
        first, second = stagger(n)
        a, b, again, duplicate = await asyncio.gather(
            later(refund(client, case.finance, pid, 200000, BEFORE_TOTAL), first),
            later(refund(client, other_finance, pid, 300000, BEFORE_TOTAL), second),
            fees.deliver(client, second_payment), fees.deliver(client, original))
        no_server_error(a, b, again, duplicate)
        assert sorted((r.status_code, code_of(r)) for r in (a, b)) == [(201, None), (409, "refund_amount_mismatch")]
        won = a if a.status_code == 201 else b
        observed["first refund by " + ("A" if won is a else "B")] += 1
        taken = int(won.json()["amount"])
        assert won.json()["state"] == "succeeded"
        assert (again.json()["outcome"], duplicate.json()["outcome"]) == ("overpayment", "duplicate")
        seen = await payment(client, case.finance, pid)
        [surplus] = seen["surpluses"]
        assert (seen["refunded"], seen["refundable"], surplus["amount"], surplus["refundable"]) == (
            taken, BEFORE_TOTAL - taken, BEFORE_TOTAL, BEFORE_TOTAL)
        assert (fees.bank.order(ref) or {}).get("refunded") == taken

        rest, extra, report, late = await asyncio.gather(
            later(refund(client, case.finance, pid, BEFORE_TOTAL - taken, BEFORE_TOTAL - taken), first),
            later(refund(client, other_finance, pid, BEFORE_TOTAL, BEFORE_TOTAL, surplus["id"]), second),
            reconcile(older_than_s=0), fees.deliver(client, second_payment))
        no_server_error(rest, extra, late)
        assert (rest.status_code, extra.status_code, report.errors) == (201, 201, 0), (rest.text, extra.text)
        assert late.json()["outcome"] == "duplicate"
        order = fees.bank.order(ref)
        assert order is not None
        [txn_b] = order["later_transactions"]
        assert (order["refunded"], order["later_transactions"][txn_b]["refunded"]) == (BEFORE_TOTAL, BEFORE_TOTAL)
        money = await money_of(case.id)
        money_is_consistent(money)
        assert (money.paid, money.refunded) == (BEFORE_TOTAL, BEFORE_TOTAL)
        assert sorted((r.state, r.amount) for r in money.refunds) == sorted(
            [("succeeded", taken), ("succeeded", BEFORE_TOTAL - taken), ("succeeded", BEFORE_TOTAL)])
        assert await _refunded_events(case.id) == 3
        assert await fees.state(client, case) == "received"
    print(dict(observed))

"""An attempt a declined try failed, paid on the next try: its late success callback, reconciliation (which finds
that money) and a desk payment of the same fees, all at once, settle the obligation once."""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx

from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Fees
from tests.races.support import (
    ROUNDS,
    code_of,
    history_actions,
    later,
    money_is_consistent,
    money_of,
    no_server_error,
    paying,
    payment,
    stagger,
)


async def test_a_failed_attempt_paid_after_all_and_a_desk_payment_credit_once(client: httpx.AsyncClient,
                                                                              fees: Fees) -> None:
    observed: collections.Counter[str] = collections.Counter()
    for n, started in enumerate(await paying(client, fees, ROUNDS)):
        case, pid, ref = started.case, started.pid, started.ref
        declined = fees.bank.callback(ref, f"FP{uuid.uuid4().hex[:16].upper()}", "failed", BEFORE_TOTAL)
        assert (await fees.deliver(client, declined)).json()["outcome"] == "recorded"
        assert fees.bank.complete(ref, mode="never") == []  # paid on the next try
        order = fees.bank.order(ref) or {}
        success = fees.bank.callback(ref, str(order["txn_id"]), "succeeded", BEFORE_TOTAL)
        first, second = stagger(n)
        desk, report, late = await asyncio.gather(
            later(client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                              json={"receipt_number": f"Q{uuid.uuid4().hex[:10]}"}), first),
            later(reconcile(older_than_s=0), second),
            later(fees.deliver(client, success), second))
        no_server_error(desk, late)
        assert report.errors == 0, report
        online = await payment(client, case.finance, pid)
        if desk.status_code == 201:
            observed["desk first"] += 1
            assert (online["state"], online["credited"], online["flag"]) == ("succeeded", False, "overpayment")
        else:
            observed["online first"] += 1
            assert (desk.status_code, code_of(desk)) == (409, "nothing_to_pay"), desk.text
            assert (online["state"], online["credited"], online["flag"]) == ("succeeded", True, None)
        money = await money_of(case.id)
        money_is_consistent(money)
        assert money.paid == BEFORE_TOTAL and len(money.credited) == 1
        assert await history_actions(client, case) == ["submit", "request_payment", "confirm_payment"]
    print(dict(observed))

"""Two ways of settling the same step-2.3 obligation at once: the desk and a late online success; and the
provider's callbacks, reconciliation and a finance official's manual confirm_payment for one attempt."""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update

from app.core import clock
from app.core.db import get_database
from app.fees.models import PaymentAttempt
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees
from tests.races.support import (
    ROUNDS,
    code_of,
    flagged_ids,
    history_actions,
    later,
    money_is_consistent,
    money_of,
    no_server_error,
    paying,
    payment,
    postgres_only,
    refund,
    stagger,
)

PAID = ["submit", "request_payment", "confirm_payment"]
# Start delays (success callback, reconciliation, manual confirm) per round: each goes first in some rounds.
DELAYS = list(itertools.permutations((0.0, 0.015, 0.04)))


async def _received_once(client: httpx.AsyncClient, fees: Fees, case: Case) -> None:
    """The dossier was received exactly once: one confirm_payment in the history, one appointment receipt."""
    assert await fees.state(client, case) == "received"
    assert await history_actions(client, case) == PAID
    notices = await client.get(f"/v1/dossiers/{case.id}/notices", headers=case.citizen.headers)
    assert [n["kind"] for n in notices.json()["items"]].count("receipt") == 1, notices.text


@postgres_only
async def test_desk_payment_and_a_late_online_success_credit_once(client: httpx.AsyncClient, fees: Fees) -> None:
    """The online attempt's 90 minutes are over, so the desk may take the money; its success then arrives at
    the same moment. One of them is credited; the other is refused (desk: 409 nothing_to_pay) or kept as an
    overpayment flagged for finance and refundable in full. Never both credited, never 5xx."""
    observed: collections.Counter[str] = collections.Counter()
    for n, started in enumerate(await paying(client, fees, ROUNDS)):
        async with get_database().write_sessions() as session, session.begin():
            await session.execute(update(PaymentAttempt).where(PaymentAttempt.id == uuid.UUID(started.pid))
                                  .values(expires_at=clock.now() - timedelta(seconds=1)))
        [callback] = fees.bank.complete(started.ref)
        case = started.case
        first, second = stagger(n, step_s=0.01)
        delivered, desk = await asyncio.gather(
            later(fees.deliver(client, callback), first),
            later(client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                              json={"receipt_number": f"QD-{uuid.uuid4().hex[:10]}"}), second))
        no_server_error(delivered, desk)
        observed["desk first" if desk.status_code == 201 else "online first"] += 1
        assert delivered.status_code == 200, delivered.text
        money = await money_of(case.id)
        money_is_consistent(money)
        assert money.paid == BEFORE_TOTAL and len(money.credited) == 1
        online = await payment(client, case.finance, started.pid)
        assert online["state"] == "succeeded"
        if desk.status_code == 201:  # the desk first: the online money is an overpayment to give back
            assert delivered.json()["outcome"] == "overpayment"
            assert money.credited[0].provider == "counter"
            assert (online["credited"], online["flag"], online["refundable"]) == (False, "overpayment", BEFORE_TOTAL)
            assert started.pid in await flagged_ids(client, case.finance)
            back = await refund(client, case.finance, started.pid, BEFORE_TOTAL, BEFORE_TOTAL)
            assert back.status_code == 201 and back.json()["state"] == "succeeded", back.text
            assert (await money_of(case.id)).paid == BEFORE_TOTAL  # the refund of surplus money leaves paid
        else:  # the online success first: the desk finds nothing owed
            assert (desk.status_code, code_of(desk)) == (409, "nothing_to_pay"), desk.text
            assert delivered.json()["outcome"] == "credited"
            assert (online["credited"], online["flag"]) == (True, None)
            assert [a.provider for a in money.attempts] == ["fakepay"]
        await _received_once(client, fees, case)
    print(dict(observed))


@postgres_only
async def test_callbacks_reconciliation_and_a_manual_confirm_settle_an_attempt_once(
        client: httpx.AsyncClient, fees: Fees) -> None:
    """For one attempt at once: its success callback, a stale failure for the same order delivered out of
    order, a reconciliation pass, and finance taking confirm_payment from the screen it read before. Credited
    once; received once (one history entry, one receipt); every callback 200; finance refused (fees unpaid,
    stale ETag, or already received), never 5xx."""
    observed: collections.Counter[str] = collections.Counter()
    for n, started in enumerate(await paying(client, fees, ROUNDS)):
        case = started.case
        success, stale_failure = fees.bank.complete(started.ref, mode="reorder")
        read = await client.get(f"/v1/dossiers/{case.id}", headers=case.finance.headers)
        success_at, reconcile_at, manual_at = DELAYS[n % len(DELAYS)]
        ok, failed, report, manual = await asyncio.gather(
            later(fees.deliver(client, success), success_at),
            later(fees.deliver(client, stale_failure), success_at + 0.005),  # out of order: sent after it
            later(reconcile(older_than_s=0), reconcile_at),
            later(client.post(f"/v1/dossiers/{case.id}/transitions", json={"action": "confirm_payment"},
                              headers={**case.finance.headers, "If-Match": read.headers["ETag"]}), manual_at))
        no_server_error(ok, failed, manual)
        observed[f"callback {ok.json().get('outcome')}, manual {code_of(manual)}, reconciled {report.settled}"] += 1
        assert report.errors == 0
        assert ok.status_code == 200 and ok.json()["outcome"] in ("credited", "duplicate"), ok.text
        assert failed.status_code == 200 and failed.json()["outcome"] in ("ignored", "recorded"), failed.text
        assert (manual.status_code, code_of(manual)) in (
            (409, "fees_unpaid"), (409, "transition_not_allowed"), (412, "precondition_failed")), manual.text
        money = await money_of(case.id)
        money_is_consistent(money)
        assert money.paid == BEFORE_TOTAL and [str(a.id) for a in money.credited] == [started.pid]
        await _received_once(client, fees, case)
    print(dict(observed))

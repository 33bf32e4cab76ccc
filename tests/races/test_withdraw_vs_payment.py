"""The applicant withdraws while the step-2.3 money arrives: through the provider's callback, through
reconciliation, or at the desk. Whatever the order, the money is credited once and, on a withdrawn dossier,
stays refundable (and, when it arrived after the withdrawal, is in finance's flagged queue)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from typing import Any

import httpx
import pytest

from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees
from tests.races.support import (
    ROUNDS,
    cases,
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
    withdraw,
)

SERIAL_HISTORIES = (
    ["submit", "request_payment", "withdraw"],  # withdrawn first: the money arrives on a closed dossier
    ["submit", "request_payment", "confirm_payment", "withdraw"],  # paid first: received, then withdrawn
)


async def _withdrawn_in_the_end(client: httpx.AsyncClient, case: Case, first: httpx.Response) -> None:
    """A withdraw sent with an ETag the payment made stale is 412 (the applicant reads again and retries)."""
    if first.status_code == 412:
        assert code_of(first) == "precondition_failed"
        first = await withdraw(client, case)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "withdrawn"


async def _money_settled_once_and_refundable(client: httpx.AsyncClient, fees: Fees, case: Case,
                                             payment_id: str) -> None:
    """After the race: credited once; refundable in full; a payment that came after the withdrawal is flagged
    `dossier_closed` (finance's queue); a full refund then goes through."""
    money = await money_of(case.id)
    money_is_consistent(money)
    assert money.paid == BEFORE_TOTAL and [str(a.id) for a in money.credited] == [payment_id]
    history = await history_actions(client, case)
    assert history in SERIAL_HISTORIES, history
    seen = await payment(client, case.finance, payment_id)
    assert (seen["state"], seen["credited"], seen["refundable"]) == ("succeeded", True, BEFORE_TOTAL)
    if "confirm_payment" not in history:
        assert seen["flag"] == "dossier_closed"
        assert payment_id in await flagged_ids(client, case.finance)
    given_back = await refund(client, case.finance, payment_id, BEFORE_TOTAL, BEFORE_TOTAL)
    assert given_back.status_code == 201 and given_back.json()["state"] == "succeeded", given_back.text


@postgres_only
async def test_withdraw_racing_the_success_callback_credits_once_and_stays_refundable(
        client: httpx.AsyncClient, fees: Fees) -> None:
    """Whichever commits first, the callback answers 200 `credited`, the payment is credited exactly once and
    refundable on the withdrawn dossier; no 5xx, history one of the serial orders."""
    observed: collections.Counter[str] = collections.Counter()
    for n, started in enumerate(await paying(client, fees, ROUNDS)):
        [callback] = fees.bank.complete(started.ref)
        first, second = stagger(n)
        delivered, withdrawn = await asyncio.gather(later(fees.deliver(client, callback), first),
                                                    later(withdraw(client, started.case), second))
        no_server_error(delivered, withdrawn)
        observed[f"callback {delivered.status_code}, withdraw {withdrawn.status_code}"] += 1
        assert delivered.status_code == 200 and delivered.json()["outcome"] == "credited", delivered.text
        await _withdrawn_in_the_end(client, started.case, withdrawn)
        await _money_settled_once_and_refundable(client, fees, started.case, started.pid)
        again = await fees.deliver(client, callback)  # the provider retries: nothing more is credited
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
        assert (await money_of(started.case.id)).paid == BEFORE_TOTAL
    print(dict(observed))


@postgres_only
async def test_withdraw_racing_reconciliation_credits_once_and_stays_refundable(
        client: httpx.AsyncClient, fees: Fees) -> None:
    """A lost callback settled by `dvc payments reconcile` while the applicant withdraws: the pass settles it
    without an error, credits once, never raises."""
    observed: collections.Counter[str] = collections.Counter()
    for n, started in enumerate(await paying(client, fees, ROUNDS)):
        assert fees.bank.complete(started.ref, mode="never") == []
        first, second = stagger(n)
        report, withdrawn = await asyncio.gather(later(reconcile(older_than_s=0), first),
                                                 later(withdraw(client, started.case), second))
        no_server_error(withdrawn)
        observed[f"reconcile errors {report.errors}, withdraw {withdrawn.status_code}"] += 1
        await _withdrawn_in_the_end(client, started.case, withdrawn)
        assert (report.settled, report.errors) == (1, 0)
        await _money_settled_once_and_refundable(client, fees, started.case, started.pid)
    print(dict(observed))


@postgres_only
async def test_withdraw_racing_a_desk_payment_credits_once_and_stays_refundable(
        client: httpx.AsyncClient, fees: Fees) -> None:
    """Finance records cash at the desk while the applicant withdraws online: the desk answers 201 (paid
    first: received, then withdrawn, the cash refundable) or 409 `nothing_to_pay` (withdrawn first), never
    5xx; at most one credit."""
    observed: collections.Counter[str] = collections.Counter()
    for n, case in enumerate(await cases(client, fees, ROUNDS)):
        await fees.request_payment(client, case)
        first, second = stagger(n)
        desk, withdrawn = await asyncio.gather(
            later(client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                              json={"receipt_number": f"QD-{uuid.uuid4().hex[:10]}"}), first),
            later(withdraw(client, case), second))
        no_server_error(desk, withdrawn)
        observed[f"desk {desk.status_code} {code_of(desk)}, withdraw {withdrawn.status_code}"] += 1
        await _withdrawn_in_the_end(client, case, withdrawn)
        if desk.status_code == 201:
            assert await history_actions(client, case) == SERIAL_HISTORIES[1]
            await _money_settled_once_and_refundable(client, fees, case, str(desk.json()["id"]))
        else:  # withdrawn before the desk looked: nothing taken
            assert code_of(desk) == "nothing_to_pay", desk.text
            money = await money_of(case.id)
            assert (money.paid, money.attempts) == (0, [])
            assert await history_actions(client, case) == SERIAL_HISTORIES[0]
    print(dict(observed))


@postgres_only
@pytest.mark.parametrize("news", ["callback", "reconciliation"])
async def test_money_that_meets_a_withdrawal_is_credited_and_flagged_at_once(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch, news: str) -> None:
    """The withdrawal is sent after the success (a callback, or reconciliation asking the provider) read the
    dossier's state and before its confirm_payment. The state was read under the dossier's lock, so the
    withdrawal waits for the success: applied at once (callback 200 `credited`; the pass settles it with no
    error), received, then withdrawn (412 first, the ETag having moved), refundable in full. Before the lock,
    the withdrawal slipped in, confirm_payment refused with 409 and the credit rolled back with it."""
    from app.workflow import transitions

    [started] = await paying(client, fees, 1)
    callbacks = fees.bank.complete(started.ref, mode="normal" if news == "callback" else "never")
    reached, withdrawn = asyncio.Event(), asyncio.Event()
    real = transitions.apply_system_action

    async def confirm_after_the_withdrawal(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        # A fixed service may lock the dossier before this point: the withdrawal then waits for us, not we for it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(withdrawn.wait(), timeout=2)
        return await real(*args, **kwargs)

    async def withdraw_in_the_window() -> httpx.Response:
        with contextlib.suppress(TimeoutError):  # (a fixed service may never reach confirm_payment here)
            await asyncio.wait_for(reached.wait(), timeout=5)
        try:
            return await withdraw(client, started.case)
        finally:
            withdrawn.set()

    async def success_news() -> bool:
        if news == "callback":
            delivered = await fees.deliver(client, callbacks[0])
            no_server_error(delivered)
            return delivered.status_code == 200 and delivered.json()["outcome"] == "credited"
        report = await reconcile(older_than_s=0)
        return (report.settled, report.errors) == (1, 0)

    monkeypatch.setattr(transitions, "apply_system_action", confirm_after_the_withdrawal)
    applied, withdrew = await asyncio.gather(success_news(), withdraw_in_the_window())
    monkeypatch.setattr(transitions, "apply_system_action", real)
    no_server_error(withdrew)
    await _withdrawn_in_the_end(client, started.case, withdrew)
    assert applied, "the success was not applied at once"
    await _money_settled_once_and_refundable(client, fees, started.case, started.pid)


@postgres_only
async def test_a_desk_payment_for_a_dossier_withdrawn_meanwhile_is_refused(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: the withdrawal commits after the desk request read the dossier and before it looks for
    what is owed. As when the withdrawal comes first: 409 nothing_to_pay, no attempt, nothing paid (the state is
    read again under the obligation's lock; before, the cash was taken and flagged `dossier_closed`)."""
    from app.fees import payments

    [case] = await cases(client, fees, 1)
    await fees.request_payment(client, case)
    reached, withdrawn = asyncio.Event(), asyncio.Event()
    real = payments._owing_obligation

    async def owing_after_the_withdrawal(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        with contextlib.suppress(TimeoutError):  # (a fixed service may hold a lock the withdrawal waits for)
            await asyncio.wait_for(withdrawn.wait(), timeout=2)
        return await real(*args, **kwargs)

    async def withdraw_in_the_window() -> httpx.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reached.wait(), timeout=5)
        try:
            return await withdraw(client, case)
        finally:
            withdrawn.set()

    monkeypatch.setattr(payments, "_owing_obligation", owing_after_the_withdrawal)
    desk, withdrew = await asyncio.gather(
        client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                    json={"receipt_number": f"QD-{uuid.uuid4().hex[:10]}"}),
        withdraw_in_the_window())
    monkeypatch.setattr(payments, "_owing_obligation", real)
    no_server_error(desk, withdrew)
    assert withdrew.status_code == 200, withdrew.text
    assert (desk.status_code, code_of(desk)) == (409, "nothing_to_pay"), desk.text
    money = await money_of(case.id)
    assert (money.paid, money.attempts) == (0, [])

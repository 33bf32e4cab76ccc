"""Concurrent pay requests, refunds (partial, full, stale expectation), reconciliation of lost callbacks."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core import clock
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.fees.models import PaymentAttempt
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Fees


async def _attempt_count() -> int:
    async with get_database().read_sessions() as session:
        return int((await session.execute(select(func.count()).select_from(PaymentAttempt))).scalar() or 0)


async def test_twenty_concurrent_pay_requests_with_one_key_make_one_attempt(client: httpx.AsyncClient,
                                                                            fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    responses = await asyncio.gather(*(fees.pay_response(client, case, key="pay-once") for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert created and len({r.json()["id"] for r in created}) == 1  # replays answer the same attempt
    assert all(r.json()["code"] == "idempotency_in_progress" for r in responses if r.status_code == 409)
    assert await _attempt_count() == 1
    replay = await fees.pay_response(client, case, key="pay-once")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == created[0].json()["id"]


async def test_concurrent_pay_requests_without_a_key_make_one_live_attempt(client: httpx.AsyncClient,
                                                                           fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    responses = await asyncio.gather(*(fees.pay_response(client, case) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"payment_in_progress"}
    assert await _attempt_count() == 1


async def _refund(client: httpx.AsyncClient, actor_headers: dict[str, str], payment_id: str, amount: int,
                  expected: int) -> httpx.Response:
    return await client.post(f"/v1/payments/{payment_id}/refunds", headers=actor_headers,
                             json={"amount": amount, "reason": "Hồ sơ dừng xử lý", "expected_available": expected})


async def test_partial_then_full_refund(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    pid = str(attempt["id"])
    first = await _refund(client, case.finance.headers, pid, 200000, BEFORE_TOTAL)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "succeeded" and first.json()["payment_id"] == pid
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert (payment["refunded"], payment["refundable"]) == (200000, 300000)
    rest = await _refund(client, case.finance.headers, pid, 300000, 300000)
    assert rest.status_code == 201
    # Each refund has its own address; the payer and finance see them all, a stranger none.
    one = await client.get(rest.headers["location"], headers=case.citizen.headers)
    assert one.status_code == 200 and one.json() == rest.json()
    listed = await client.get(f"/v1/payments/{pid}/refunds", headers=case.finance.headers)
    assert [(r["amount"], r["state"]) for r in listed.json()["items"]] == [(200000, "succeeded"), (300000, "succeeded")]
    stranger = await fees.accounts.citizen()
    assert (await client.get(f"/v1/payments/{pid}/refunds", headers=stranger.headers)).status_code == 404
    assert (await client.get(f"/v1/payments/{pid}/refunds/{uuid.uuid4()}",
                             headers=case.finance.headers)).status_code == 404
    view = await fees.fees_of(client, case)
    assert (view["paid"], view["refunded"]) == (BEFORE_TOTAL, BEFORE_TOTAL)
    nothing = await _refund(client, case.finance.headers, pid, 1, 0)
    assert nothing.status_code == 422  # nothing left to refund
    assert fees.bank.order(str(attempt["provider_ref"]))["refunded"] == BEFORE_TOTAL  # through the provider
    async with get_database().read_sessions() as session:
        refunded = (await session.execute(select(OutboxEvent).where(
            OutboxEvent.event_type == "payment.refunded").order_by(OutboxEvent.id))).scalars().all()
    assert [e.payload["amount"] for e in refunded] == [200000, 300000]


async def _refund_killed(monkeypatch: pytest.MonkeyPatch, case: Any, payment_id: str, *, bank_answered: bool) -> None:
    """Refund the whole payment through the service, the process dying before the provider is asked or after
    it answered, before the answer is recorded."""
    from app.fees import refunds

    asked = refunds.ask_provider

    async def killed(*args: Any, **kwargs: Any) -> Any:
        if bank_answered:
            await asked(*args, **kwargs)
        raise RuntimeError("process killed")

    monkeypatch.setattr(refunds, "ask_provider", killed)
    try:
        with pytest.raises(RuntimeError):
            async with get_database().write_sessions() as session:
                await refunds.refund_payment(session, uuid.UUID(payment_id), amount=BEFORE_TOTAL, reason="Nộp trùng",
                                             expected_available=BEFORE_TOTAL, official_id=case.finance.id)
    finally:
        monkeypatch.setattr(refunds, "ask_provider", asked)


async def _refunds_and_events() -> tuple[list[tuple[str, int]], int]:
    from app.fees.models import Refund

    async with get_database().read_sessions() as session:
        rows = (await session.execute(select(Refund))).scalars().all()
        events = (await session.execute(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == "payment.refunded"))).scalar()
    return [(r.state, r.amount) for r in rows], int(events or 0)


@pytest.mark.parametrize("bank_answered", [True, False], ids=["after-the-bank-answered", "before-asking"])
async def test_a_refund_cut_off_by_a_crash_is_settled_once_by_reconciliation(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch, bank_answered: bool) -> None:
    """The refund is on record (submitted, amount reserved) before the provider moves money, so the same money
    cannot be refunded twice meanwhile; reconciliation asks fakepay again with the same refund id, which moves
    the money only if the first request never reached it, and records the answer once."""
    case, attempt = await fees.paid_case(client)
    pid, ref = str(attempt["id"]), str(attempt["provider_ref"])
    await _refund_killed(monkeypatch, case, pid, bank_answered=bank_answered)
    assert fees.bank.order(ref)["refunded"] == (BEFORE_TOTAL if bank_answered else 0)
    assert await _refunds_and_events() == ([("submitted", BEFORE_TOTAL)], 0)
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert (payment["refunded"], payment["refund_pending"], payment["refundable"]) == (0, BEFORE_TOTAL, 0)
    again = await _refund(client, case.finance.headers, pid, BEFORE_TOTAL, BEFORE_TOTAL)
    assert again.status_code == 409 and again.json()["code"] == "refund_amount_mismatch"

    assert (await reconcile(older_than_s=3600)).refunds_settled == 0  # younger than the wait: left alone
    reports = await asyncio.gather(reconcile(older_than_s=0), reconcile(older_than_s=0))
    assert sum(r.refunds_settled for r in reports) >= 1 and sum(r.refunds_unresolved for r in reports) == 0
    assert fees.bank.order(ref)["refunded"] == BEFORE_TOTAL  # the money left once
    assert await _refunds_and_events() == ([("succeeded", BEFORE_TOTAL)], 1)
    assert (await fees.fees_of(client, case))["refunded"] == BEFORE_TOTAL
    assert (await reconcile(older_than_s=0)).refunds_settled == 0


async def test_a_provider_without_idempotent_refunds_is_not_asked_again(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Re-sending could refund twice, so the refund stays reserved and is reported with its id for finance."""
    from app.fees.providers import use_provider
    from app.fees.providers.fakepay import FakePayProvider

    class OneShotRefunds(FakePayProvider):
        refunds_idempotent = False

    case, attempt = await fees.paid_case(client)
    pid, ref = str(attempt["id"]), str(attempt["provider_ref"])
    await _refund_killed(monkeypatch, case, pid, bank_answered=False)
    use_provider("fakepay", OneShotRefunds(fees.bank))
    try:
        with caplog.at_level(logging.WARNING, logger="app.fees.reconcile"):
            report = await reconcile(older_than_s=0)
    finally:
        use_provider("fakepay", None)
    assert (report.refunds_settled, report.refunds_unresolved) == (0, 1)
    [(state, amount)], _ = await _refunds_and_events()
    assert (state, amount, fees.bank.order(ref)["refunded"]) == ("submitted", BEFORE_TOTAL, 0)
    assert any(pid in record.getMessage() for record in caplog.records)


def test_fakepay_answers_a_repeated_refund_id_from_its_ledger(tmp_path: Path) -> None:
    from app.fees.providers.fakepay import FakePayBank

    bank = FakePayBank(secret="s", ledger_dir=tmp_path)
    bank.open_order("R1", 1000, "http://x")
    bank.complete("R1")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert bank.refund("R1", first, 600).state == "succeeded"
    assert bank.refund("R1", first, 600) == bank.refund("R1", first, 600)
    assert bank.refund("R1", second, 600).state == "failed"  # more than what is left
    assert bank.order("R1")["refunded"] == 600


async def test_refund_with_a_stale_expectation_is_409(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    pid = str(attempt["id"])
    assert (await _refund(client, case.finance.headers, pid, 100000, BEFORE_TOTAL)).status_code == 201
    stale = await _refund(client, case.finance.headers, pid, 100000, BEFORE_TOTAL)  # a second official's screen
    assert stale.status_code == 409
    assert stale.json()["code"] == "refund_amount_mismatch" and stale.json()["extra"]["available"] == 400000
    too_much = await _refund(client, case.finance.headers, pid, 400001, 400000)
    assert too_much.status_code == 422


async def test_concurrent_refunds_of_the_same_money_refund_once(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    responses = await asyncio.gather(*(_refund(client, case.finance.headers, str(attempt["id"]), BEFORE_TOTAL,
                                               BEFORE_TOTAL) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert (await fees.fees_of(client, case))["refunded"] == BEFORE_TOTAL


async def test_refunds_need_finance_at_the_agency(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    for headers in (case.citizen.headers, case.reception.headers):
        assert (await _refund(client, headers, str(attempt["id"]), 1, BEFORE_TOTAL)).status_code == 403
    elsewhere = await fees.accounts.official("000.00.77.H77", ["finance"])
    assert (await _refund(client, elsewhere.headers, str(attempt["id"]), 1, BEFORE_TOTAL)).status_code == 404
    # A system administrator's rank moves no money (as it takes no part in processing): without the finance role
    # it is refused; with it, only at its own agency (another's dossier is not found, as for any official).
    admin = await fees.accounts.admin()
    refused = await _refund(client, admin.headers, str(attempt["id"]), 1, BEFORE_TOTAL)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
    counter = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=admin.headers,
                                json={"receipt_number": "BL-ADMIN-1", "amount": 1})
    assert (counter.status_code, counter.json()["code"]) == (403, "forbidden_role")
    admin_elsewhere = await fees.accounts.official("000.00.77.H77", ["finance", "system_admin"])
    assert (await _refund(client, admin_elsewhere.headers, str(attempt["id"]), 1, BEFORE_TOTAL)).status_code == 404
    assert (await fees.fees_of(client, case))["refunded"] == 0


async def test_a_refused_refund_releases_the_amount(client: httpx.AsyncClient, fees: Fees) -> None:
    from app.fees.providers import use_provider
    from app.fees.providers.fakepay import FakePayBank, FakePayProvider

    case, attempt = await fees.paid_case(client)
    refusing = FakePayBank()
    refusing.fail_refunds = True
    use_provider("fakepay", FakePayProvider(refusing))
    try:
        refused = await _refund(client, case.finance.headers, str(attempt["id"]), 1000, BEFORE_TOTAL)
    finally:
        use_provider("fakepay", None)
    assert refused.status_code == 201 and refused.json()["state"] == "failed"
    payment = (await client.get(f"/v1/payments/{attempt['id']}", headers=case.finance.headers)).json()
    assert payment["refundable"] == BEFORE_TOTAL


async def test_a_lost_callback_is_settled_by_reconciliation(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    assert fees.bank.complete(str(attempt["provider_ref"]), mode="never") == []
    assert (await reconcile(older_than_s=3600)).checked == 0  # too recent to be "stuck"
    report = await reconcile(older_than_s=0)
    assert (report.checked, report.settled) == (1, 1)
    assert await fees.state(client, case) == "received"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    # The callback turns up after all: a duplicate; and a second reconciliation finds nothing.
    [late] = fees.bank.complete(str(attempt["provider_ref"]))
    assert (await fees.deliver(client, late)).json()["outcome"] == "duplicate"
    assert (await reconcile(older_than_s=0)).checked == 0


async def test_reconciliation_expires_abandoned_attempts(client: httpx.AsyncClient, fees: Fees,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    assert (await reconcile(older_than_s=0)).unchanged == 1  # the payer is still on the checkout page
    later = clock.now() + timedelta(minutes=91)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert (await reconcile(older_than_s=0)).expired == 1
    payment = (await client.get(f"/v1/payments/{attempt['id']}", headers=case.citizen.headers)).json()
    assert payment["state"] == "expired"


async def test_concurrent_reconcilers_and_callback_credit_once(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]))
    results = await asyncio.gather(reconcile(older_than_s=0), reconcile(older_than_s=0),
                                   fees.deliver(client, callback))
    assert results[2].status_code == 200
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"

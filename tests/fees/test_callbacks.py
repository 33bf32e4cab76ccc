"""Callbacks: forged, stale, duplicated, reordered, late, with a wrong amount — never a double credit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.core import clock
from app.core.db import get_database
from app.fees.models import PaymentAttempt, PaymentCallback
from app.fees.providers.fakepay import FakePayBank, SignedCallback
from tests.fees.conftest import BEFORE_TOTAL, CALLBACK, Fees


async def _started(client: httpx.AsyncClient, fees: Fees) -> tuple[object, dict[str, object]]:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    return case, await fees.pay(client, case)


async def _paid(client: httpx.AsyncClient, fees: Fees, case: object) -> int:
    return int((await fees.fees_of(client, case))["paid"])  # type: ignore[arg-type]


async def test_forged_signature_is_401_and_credits_nothing(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _started(client, fees)
    forger = FakePayBank(secret="not-the-secret", ledger_dir=fees.bank.ledger_dir)
    [forged] = forger.complete(str(attempt["provider_ref"]))
    response = await fees.deliver(client, forged)
    assert response.status_code == 401
    assert response.json()["code"] == "callback_signature_invalid"
    assert response.headers["www-authenticate"].startswith('HMAC-SHA256 realm="fakepay"')
    assert response.headers["content-type"].startswith("application/problem+json")
    # A genuine signature over another body does not carry over to a tampered body either.
    genuine = fees.bank.callback(str(attempt["provider_ref"]), "FPX", "succeeded", BEFORE_TOTAL)
    tampered = json.loads(genuine.body) | {"amount": 1}
    response = await client.post(CALLBACK, content=json.dumps(tampered).encode(), headers=genuine.headers)
    assert response.status_code == 401
    missing = await client.post(CALLBACK, content=genuine.body, headers={"Content-Type": "application/json"})
    assert missing.status_code == 401
    assert await _paid(client, fees, case) == 0
    assert await fees.state(client, case) == "payment_requested"


async def test_a_stale_timestamp_is_refused(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _started(client, fees)
    old = int((clock.now() - timedelta(hours=1)).timestamp())
    stale = fees.bank.callback(str(attempt["provider_ref"]), "FP1", "succeeded", BEFORE_TOTAL, timestamp=old)
    response = await fees.deliver(client, stale)
    assert response.status_code == 401 and response.json()["code"] == "callback_signature_invalid"
    assert await _paid(client, fees, case) == 0


@pytest.mark.parametrize("timestamp", [10**400, -(10**400)], ids=["huge", "huge_negative"])
async def test_a_timestamp_beyond_any_clock_is_refused_not_a_500(client: httpx.AsyncClient, fees: Fees,
                                                                  timestamp: int) -> None:
    case, attempt = await _started(client, fees)
    signed = fees.bank.callback(str(attempt["provider_ref"]), "FP2", "succeeded", BEFORE_TOTAL, timestamp=timestamp)
    response = await fees.deliver(client, signed)
    assert response.status_code == 401 and response.json()["code"] == "callback_signature_invalid"
    assert await _paid(client, fees, case) == 0


async def test_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/payments/providers/nopay/callback", content=b"{}")
    assert response.status_code == 404


async def test_duplicate_callbacks_credit_once(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _started(client, fees)
    callbacks = fees.bank.complete(str(attempt["provider_ref"]), mode="duplicate")
    outcomes = [(await fees.deliver(client, cb)).json()["outcome"] for cb in callbacks]
    assert outcomes == ["credited", "duplicate"]
    again = await fees.deliver(client, callbacks[0])  # a third replay, later
    assert again.json()["outcome"] == "duplicate"
    assert await _paid(client, fees, case) == BEFORE_TOTAL
    async with get_database().read_sessions() as session:
        logged = (await session.execute(select(func.count()).select_from(PaymentCallback))).scalar()
    assert logged == 3  # every callback is on record


async def test_reordered_stale_failure_after_success_is_ignored(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _started(client, fees)
    final, stale = fees.bank.complete(str(attempt["provider_ref"]), mode="reorder")
    assert (await fees.deliver(client, final)).json()["outcome"] == "credited"
    assert (await fees.deliver(client, stale)).json()["outcome"] == "ignored"
    payment = (await client.get(f"/v1/payments/{attempt['id']}", headers=case.citizen.headers)).json()
    assert payment["state"] == "succeeded"


async def test_success_after_an_earlier_failure_still_credits(client: httpx.AsyncClient, fees: Fees) -> None:
    """Out of order the other way: the failure of a first try arrives, then the success."""
    case, attempt = await _started(client, fees)
    final, stale = fees.bank.complete(str(attempt["provider_ref"]), mode="reorder")
    assert (await fees.deliver(client, stale)).json()["outcome"] == "recorded"
    assert (await fees.deliver(client, final)).json()["outcome"] == "credited"
    assert await _paid(client, fees, case) == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"


async def test_a_different_amount_is_flagged_not_credited(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await _started(client, fees)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]), amount=BEFORE_TOTAL - 1000)
    assert (await fees.deliver(client, callback)).json()["outcome"] == "amount_mismatch"
    payment = (await client.get(f"/v1/payments/{attempt['id']}", headers=case.citizen.headers)).json()
    assert payment["flag"] == "amount_mismatch" and payment["state"] == "failed" and not payment["credited"]
    assert await _paid(client, fees, case) == 0
    assert await fees.state(client, case) == "payment_requested"


async def test_late_success_after_another_payment_is_an_overpayment(client: httpx.AsyncClient, fees: Fees,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt expires, a second one is paid, then the first one's success arrives late."""
    case, first = await _started(client, fees)
    later = clock.now() + timedelta(minutes=91)
    monkeypatch.setattr(clock, "now", lambda: later)
    second = await fees.pay(client, case)  # the expired first attempt no longer blocks
    for callback in fees.bank.complete(str(second["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"
    [late] = fees.bank.complete(str(first["provider_ref"]))
    assert (await fees.deliver(client, late)).json()["outcome"] == "overpayment"
    assert await _paid(client, fees, case) == BEFORE_TOTAL  # never more than due
    payment = (await client.get(f"/v1/payments/{first['id']}", headers=case.citizen.headers)).json()
    assert payment["flag"] == "overpayment" and payment["state"] == "succeeded" and not payment["credited"]
    assert payment["refundable"] == BEFORE_TOTAL


async def test_unknown_order_is_recorded(client: httpx.AsyncClient, fees: Fees) -> None:
    callback: SignedCallback = fees.bank.callback("DVCNOSUCHORDER", "FP9", "succeeded", 1000)
    response = await fees.deliver(client, callback)
    assert response.status_code == 200 and response.json()["outcome"] == "unknown_order"


async def test_concurrent_duplicate_callbacks_credit_once(client: httpx.AsyncClient, fees: Fees) -> None:
    import asyncio

    case, attempt = await _started(client, fees)
    [callback] = fees.bank.complete(str(attempt["provider_ref"]))
    responses = await asyncio.gather(*(fees.deliver(client, callback) for _ in range(8)))
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes.count("credited") == 1 and outcomes.count("duplicate") == 7
    assert await _paid(client, fees, case) == BEFORE_TOTAL
    async with get_database().read_sessions() as session:
        states = (await session.execute(select(PaymentAttempt.state))).scalars().all()
    assert states == ["succeeded"]


async def test_money_is_credited_even_when_the_dossiers_workflow_is_no_longer_shipped(
        client: httpx.AsyncClient, fees: Fees) -> None:
    from sqlalchemy import text

    case, attempt = await _started(client, fees)
    async with get_database().write_engine.begin() as connection:
        await connection.execute(text("UPDATE procedure_versions SET workflow = 'retired' WHERE procedure_code = :c"),
                                 {"c": case.procedure_code})  # type: ignore[attr-defined]
    for callback in fees.bank.complete(str(attempt["provider_ref"])):
        assert (await fees.deliver(client, callback)).status_code == 200
    assert await _paid(client, fees, case) == BEFORE_TOTAL  # credited, not refused and retried forever
    assert await fees.state(client, case) == "payment_requested"  # confirm_payment could not be taken


async def test_order_reference_carries_the_local_date(client: httpx.AsyncClient, fees: Fees,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # 01:15 in Hà Nội is still the previous day in UTC: the reference took the UTC date, unlike the dossier code
    # and the receipt number (DOMAIN.md "Time": local dates).
    case = await fees.case(client)
    await fees.request_payment(client, case)
    moment = datetime(2026, 12, 3, 18, 15, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: moment)
    attempt = await fees.pay(client, case)
    assert str(attempt["provider_ref"]).startswith("DVC261204")


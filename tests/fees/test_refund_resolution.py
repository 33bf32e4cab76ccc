"""Finance records the outcome of a refund the provider never answered. Before, such a refund stayed `submitted`
for ever with its amount reserved: the money could neither be refunded again nor shown as given back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.core import clock
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.core.settings import get_settings
from app.fees.models import Refund
from tests.fees.conftest import BEFORE_TOTAL, Fees
from tests.fees.test_refunds_and_concurrency import _refund_killed
from tests.support.edges import expect_problem

NOTE = "Đã đối soát với ngân hàng qua điện thoại"


async def _refunded_events(payment_id: str) -> int:
    async with get_database().read_sessions() as session:
        count = (await session.execute(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == "payment.refunded",
            OutboxEvent.payload["payment_id"].as_string() == payment_id))).scalar()
    return int(count or 0)


async def _stuck_refund(client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch, *,
                        bank_answered: bool, asked_again: bool = False, aged: bool = True) -> tuple[Any, str, str]:
    """A refund left `submitted` (the process died around the provider call). Unless `asked_again`, its provider
    does not de-duplicate refunds (as VNPAY), so reconciliation never asks it again; `aged`: older than
    reconciliation's wait, so its answer is no longer expected."""
    from app.fees.providers.fakepay import FakePayProvider

    monkeypatch.setattr(FakePayProvider, "refunds_idempotent", asked_again)
    case, attempt = await fees.paid_case(client)
    pid = str(attempt["id"])
    await _refund_killed(monkeypatch, case, pid, bank_answered=bank_answered)
    [refund] = (await client.get(f"/v1/payments/{pid}/refunds", headers=case.finance.headers)).json()["items"]
    assert refund["state"] == "submitted"
    if aged:
        async with get_database().write_sessions() as session, session.begin():
            await session.execute(update(Refund).where(Refund.id == uuid.UUID(refund["id"])).values(
                created_at=clock.now() - timedelta(seconds=get_settings().payment_reconcile_after_s + 1)))
    return case, pid, str(refund["id"])


async def test_a_refund_never_answered_is_resolved_as_failed(client: httpx.AsyncClient, fees: Fees,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False)
    url = f"/v1/payments/{pid}/refunds/{rid}/resolution"
    body = {"outcome": "failed", "note": NOTE}
    expect_problem(await client.post(url, headers=case.citizen.headers, json=body), 403, "forbidden_role")
    elsewhere = await fees.accounts.official(f"000.00.{uuid.uuid4().int % 100:02d}.R01", ["finance"])
    expect_problem(await client.post(url, headers=elsewhere.headers, json=body), 404, "not_found")

    resolved = await client.post(url, headers=case.finance.headers, json=body)
    assert resolved.status_code == 200, resolved.text
    out = resolved.json()
    assert (out["state"], out["resolved_by"], out["resolution_note"]) == ("failed", str(case.finance.id), NOTE)
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert (payment["refunded"], payment["refundable"]) == (0, BEFORE_TOTAL)  # the reservation is released
    assert (await fees.fees_of(client, case))["refunded"] == 0
    assert await _refunded_events(pid) == 0

    again = expect_problem(await client.post(url, headers=case.finance.headers,
                                             json={"outcome": "succeeded", "note": NOTE}), 409, "refund_not_pending")
    assert again["extra"] == {"state": "failed"}
    # The money can be refunded again now, through the provider.
    retry = await client.post(f"/v1/payments/{pid}/refunds", headers=case.finance.headers, json={
        "amount": BEFORE_TOTAL, "reason": "Hoàn lại lệ phí", "expected_available": BEFORE_TOTAL})
    assert retry.status_code == 201 and retry.json()["state"] == "succeeded", retry.text


async def test_a_refund_the_provider_made_is_resolved_as_succeeded(client: httpx.AsyncClient, fees: Fees,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=True)
    resolved = await client.post(f"/v1/payments/{pid}/refunds/{rid}/resolution", headers=case.finance.headers,
                                 json={"outcome": "succeeded", "note": NOTE, "provider_refund_id": "FP-R-778"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "succeeded" and resolved.json()["completed_at"]
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert (payment["refunded"], payment["refundable"]) == (BEFORE_TOTAL, 0)
    assert (await fees.fees_of(client, case))["refunded"] == BEFORE_TOTAL
    assert await _refunded_events(pid) == 1  # announced once, as a provider's answer would be
    listed = (await client.get(f"/v1/payments/{pid}/refunds", headers=case.citizen.headers)).json()["items"]
    assert [(r["state"], r["resolution_note"]) for r in listed] == [("succeeded", NOTE)]


async def test_resolution_inputs_are_checked(client: httpx.AsyncClient, fees: Fees,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False)
    url = f"/v1/payments/{pid}/refunds/{rid}/resolution"
    for body, loc in [({"outcome": "submitted", "note": NOTE}, ["body", "outcome"]),
                      ({"outcome": "failed", "note": "  "}, ["body", "note"]),
                      ({"outcome": "failed", "note": NOTE, "provider_refund_id": "a b"},
                       ["body", "provider_refund_id"])]:
        problem = expect_problem(await client.post(url, headers=case.finance.headers, json=body),
                                 422, "validation_error")
        assert [e["loc"] for e in problem["errors"]] == [loc]
    other, _ = await fees.paid_case(client)
    [other_payment] = (await client.get(f"/v1/dossiers/{other.id}/payments", headers=other.finance.headers)).json()[
        "items"]
    # A refund is resolved under its own payment only.
    expect_problem(await client.post(f"/v1/payments/{other_payment['id']}/refunds/{rid}/resolution",
                                     headers=case.finance.headers, json={"outcome": "failed", "note": NOTE}),
                   404, "not_found")
    refund = (await client.get(f"/v1/payments/{pid}/refunds/{rid}", headers=case.finance.headers)).json()
    assert refund["state"] == "submitted" and refund["resolved_by"] is None


async def test_a_refund_whose_answer_may_still_come_is_not_resolved(client: httpx.AsyncClient, fees: Fees,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Younger than reconciliation's wait: the provider call may still be in flight.
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False, aged=False)
    url = f"/v1/payments/{pid}/refunds/{rid}/resolution"
    young = expect_problem(await client.post(url, headers=case.finance.headers, json={"outcome": "failed",
                                                                                      "note": NOTE}),
                           409, "refund_awaiting_provider")
    assert young["extra"] == {"retry_after_s": get_settings().payment_reconcile_after_s}
    # A provider that de-duplicates refunds is asked again by reconciliation, whatever the refund's age.
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False, asked_again=True)
    expect_problem(await client.post(f"/v1/payments/{pid}/refunds/{rid}/resolution", headers=case.finance.headers,
                                     json={"outcome": "failed", "note": NOTE}), 409, "refund_awaiting_provider")
    refund = (await client.get(f"/v1/payments/{pid}/refunds/{rid}", headers=case.finance.headers)).json()
    assert refund["state"] == "submitted" and refund["resolved_by"] is None


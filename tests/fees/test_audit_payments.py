"""Audit of the payment lists and of finance's refund resolution: who sees what, pages, races, replays."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from app.core.db import get_database
from app.fees.models import PaymentAttempt
from tests.fees.conftest import BEFORE_TOTAL, Fees
from tests.fees.test_refund_resolution import NOTE, _refunded_events, _stuck_refund
from tests.support.edges import expect_problem, forged_cursor


def _agency() -> str:
    return f"000.{uuid.uuid4().int % 100:02d}.{uuid.uuid4().int % 100:02d}.A{uuid.uuid4().int % 100:02d}"


async def _paid_in(client: httpx.AsyncClient, fees: Fees, agency: str, n: int) -> tuple[list[str], object]:
    ids, case = [], None
    for _ in range(n):
        case = await fees.case(client, agency_code=agency)
        await fees.request_payment(client, case)
        attempt = await fees.pay(client, case)
        for callback in fees.bank.complete(str(attempt["provider_ref"])):
            await fees.deliver(client, callback)
        ids.append(str(attempt["id"]))
    return ids, case


async def test_pages_over_payments_created_at_the_same_moment(client: httpx.AsyncClient, fees: Fees) -> None:
    agency = _agency()
    ids, case = await _paid_in(client, fees, agency, 5)
    same = datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=UTC)
    async with get_database().write_sessions() as session:
        await session.execute(update(PaymentAttempt).where(PaymentAttempt.id.in_([uuid.UUID(i) for i in ids]))
                              .values(created_at=same))
        await session.commit()
    finance = case.finance  # type: ignore[attr-defined]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        url = "/v1/payments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await client.get(url, headers=finance.headers)
        assert page.status_code == 200, page.text
        seen += [p["id"] for p in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert seen == sorted(ids, reverse=True)  # ties broken by id, newest (largest) first


@pytest.mark.parametrize("values", [
    [{"t": "2026-01-01T00:00:00+00:00"}, "not-a-uuid"],
    [{"t": "2026-01-01T00:00:00+00:00"}, {"u": "zzz"}],
    [{"t": "2026-01-01T00:00:00"}, {"u": str(uuid.UUID(int=1))}],
    [{"t": "0001-01-01T00:00:00+14:00"}, {"u": str(uuid.UUID(int=1))}],
    [12, {"u": str(uuid.UUID(int=1))}],
    [True, {"u": str(uuid.UUID(int=1))}],
    [None, {"u": str(uuid.UUID(int=1))}],
    [{"t": "2026-01-01T00:00:00+00:00"}],
    "not a list",
])
async def test_forged_payment_cursors_are_422(client: httpx.AsyncClient, fees: Fees, values: object) -> None:
    finance = await fees.accounts.official(_agency(), ["finance"])
    body = expect_problem(await client.get(f"/v1/payments?cursor={forged_cursor(values)}",  # type: ignore[arg-type]
                                           headers=finance.headers), 422, "validation_error")
    assert [e["loc"] for e in body["errors"]] == [["query", "cursor"]]


async def test_who_lists_which_payments(client: httpx.AsyncClient, fees: Fees) -> None:
    agency = _agency()
    [pid], case = await _paid_in(client, fees, agency, 1)
    reader = await fees.accounts.client(("dossiers:read",), (agency,))
    listed = await client.get("/v1/payments", headers=reader.headers)
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["items"]] == [pid]
    assert (await client.get(f"/v1/payments?agency={agency}", headers=reader.headers)).json()["items"][0]["id"] == pid
    blind = await fees.accounts.client(("dossiers:sync",), (agency,))
    assert (await client.get("/v1/payments", headers=blind.headers)).json()["items"] == []
    expect_problem(await client.get(f"/v1/dossiers/{case.id}/payments", headers=blind.headers),  # type: ignore
                   404, "not_found")
    admin = await fees.accounts.admin()
    assert pid in [p["id"] for p in (await client.get(f"/v1/payments?agency={agency}",
                                                      headers=admin.headers)).json()["items"]]
    finance = case.finance  # type: ignore[attr-defined]
    await fees.accounts.suspend(finance)
    expect_problem(await client.get("/v1/payments", headers=finance.headers), 403, "account_suspended")


async def test_two_officials_resolving_at_once_record_one_outcome(client: httpx.AsyncClient, fees: Fees,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=True)
    other = await fees.accounts.official(case.finance.agency_code, ["finance"])
    url = f"/v1/payments/{pid}/refunds/{rid}/resolution"
    answers = await asyncio.gather(
        client.post(url, headers=case.finance.headers, json={"outcome": "succeeded", "note": NOTE}),
        client.post(url, headers=other.headers, json={"outcome": "failed", "note": NOTE}))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 200]
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    refund = (await client.get(f"/v1/payments/{pid}/refunds/{rid}", headers=case.finance.headers)).json()
    assert refund["state"] == won["state"] and refund["resolved_by"] == won["resolved_by"]
    if won["state"] == "succeeded":
        assert payment["refunded"] == BEFORE_TOTAL and await _refunded_events(pid) == 1
    else:
        assert payment["refunded"] == 0 and await _refunded_events(pid) == 0


async def test_a_resolution_retried_with_its_key_is_replayed(client: httpx.AsyncClient, fees: Fees,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False)
    url = f"/v1/payments/{pid}/refunds/{rid}/resolution"
    headers = {**case.finance.headers, "Idempotency-Key": "resolve-once"}
    first = await client.post(url, headers=headers, json={"outcome": "failed", "note": NOTE})
    assert first.status_code == 200, first.text
    again = await client.post(url, headers=headers, json={"outcome": "failed", "note": NOTE})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    expect_problem(await client.post(url, headers=headers, json={"outcome": "succeeded", "note": NOTE}),
                   422, "idempotency_key_reused")
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert payment["refunded"] == 0  # released once


async def test_a_refund_still_being_asked_cannot_be_resolved(client: httpx.AsyncClient, fees: Fees,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Finance sees the refund `submitted` while the provider call is in flight and records `failed`; the provider
    then answers `succeeded`. The amount is released although the money left: it can be refunded a second time."""
    from app.fees import refunds
    from app.fees.providers.fakepay import FakePayProvider

    monkeypatch.setattr(FakePayProvider, "refunds_idempotent", False)  # as VNPAY: only the refund's age guards
    case, attempt = await fees.paid_case(client)
    pid = str(attempt["id"])
    asked = refunds.ask_provider
    resolutions: list[httpx.Response] = []

    async def slow(attempt_: object, refund: object, **kwargs: object) -> object:
        url = f"/v1/payments/{pid}/refunds/{refund.id}/resolution"  # type: ignore[attr-defined]
        resolutions.append(await client.post(url, headers=case.finance.headers,
                                             json={"outcome": "failed", "note": NOTE}))
        return await asked(attempt_, refund, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(refunds, "ask_provider", slow)
    refund = await client.post(f"/v1/payments/{pid}/refunds", headers=case.finance.headers, json={
        "amount": BEFORE_TOTAL, "reason": "Nộp trùng", "expected_available": BEFORE_TOTAL})
    monkeypatch.setattr(refunds, "ask_provider", asked)
    assert fees.bank.order(str(attempt["provider_ref"]))["refunded"] == BEFORE_TOTAL  # the money left
    expect_problem(resolutions[0], 409, "refund_awaiting_provider")
    assert refund.json()["state"] == "succeeded"
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert payment["refundable"] == 0


@pytest.mark.parametrize("status, answer", [(504, {"message": "upstream timed out"}), (200, {}),
                                            (502, {"error": "bad gateway", "vnp_ResponseCode": None})],
                         ids=["gateway_timeout_json", "empty_object", "null_code"])
async def test_a_vnpay_refund_answer_naming_no_outcome_stays_submitted(status: int, answer: dict[str, object]) -> None:
    """An unsigned body that is not VNPAY's refusal (a proxy's JSON error, an empty object) proves nothing: the
    refund may have been made. It was taken as a refusal and the reserved amount released (refundable twice)."""
    from app.fees.providers.base import RefundOrder
    from app.fees.providers.vnpay import VnpayProvider

    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=answer))
    provider = VnpayProvider(tmn_code="DVCTEST1", hash_secret="s" * 32, api_url="https://vnpay.test/api",
                             transport=transport)
    result = await provider.refund(RefundOrder(
        refund_id=uuid.uuid4(), provider_ref="DVC1", txn_id="14000001", amount=1000, full=False, reason="Hoan phi",
        ordered_at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC), requested_by="finance-1"))
    assert result.state == "submitted"


async def test_a_refund_reconciliation_asks_again_is_left_to_it(client: httpx.AsyncClient, fees: Fees,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconciliation read the refund as submitted and asks the provider again with the same refund id; had finance
    recorded `failed` meanwhile, the money would have left while recorded as not (refundable twice). For a provider
    reconciliation asks again, finance's resolution is refused; reconciliation records the provider's answer."""
    from app.fees import reconcile as reconcile_module

    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False, asked_again=True)
    asked = reconcile_module.ask_provider
    resolutions: list[httpx.Response] = []

    async def after_finance(*args: object, **kwargs: object) -> object:
        resolutions.append(await client.post(f"/v1/payments/{pid}/refunds/{rid}/resolution",
                                             headers=case.finance.headers, json={"outcome": "failed", "note": NOTE}))
        return await asked(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reconcile_module, "ask_provider", after_finance)
    await reconcile_module.reconcile(older_than_s=0)
    monkeypatch.setattr(reconcile_module, "ask_provider", asked)
    expect_problem(resolutions[0], 409, "refund_awaiting_provider")
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert fees.bank.order(payment["provider_ref"])["refunded"] == payment["refunded"] == BEFORE_TOTAL

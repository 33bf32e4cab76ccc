"""Refunds awaiting the provider are reserved, not given back: the receipt and the fee view say them apart. Before,
both reported them as `refunded` (the reservation the attempt and the obligation keep)."""

from __future__ import annotations

import io

import httpx
from pypdf import PdfReader

from app.fees.providers import use_provider
from app.fees.providers.base import RefundOrder, RefundResult
from app.fees.providers.fakepay import FakePayProvider
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees

GIVEN_BACK = 100000
AWAITED = 50000


class UnansweredRefunds(FakePayProvider):
    """The bank takes the refund request and has not answered yet."""

    async def refund(self, order: RefundOrder) -> RefundResult:
        return RefundResult("submitted")


async def _refund(client: httpx.AsyncClient, case: Case, payment_id: str, amount: int, expected: int) -> None:
    response = await client.post(f"/v1/payments/{payment_id}/refunds", headers=case.finance.headers,
                                 json={"amount": amount, "reason": "Hồ sơ dừng xử lý", "expected_available": expected})
    assert response.status_code == 201, response.text


async def _one_given_back_one_awaited(client: httpx.AsyncClient, fees: Fees) -> tuple[Case, str]:
    case, attempt = await fees.paid_case(client)
    pid = str(attempt["id"])
    await _refund(client, case, pid, GIVEN_BACK, BEFORE_TOTAL)
    use_provider("fakepay", UnansweredRefunds(fees.bank))
    try:
        await _refund(client, case, pid, AWAITED, BEFORE_TOTAL - GIVEN_BACK)
    finally:
        use_provider("fakepay", None)
    states = [r["state"] for r in (await client.get(f"/v1/payments/{pid}/refunds",
                                                    headers=case.finance.headers)).json()["items"]]
    assert states == ["succeeded", "submitted"]
    return case, pid


async def test_the_receipt_tells_a_refund_awaiting_the_provider_from_one_given_back(client: httpx.AsyncClient,
                                                                                   fees: Fees) -> None:
    case, pid = await _one_given_back_one_awaited(client, fees)
    receipt = (await client.get(f"/v1/payments/{pid}/receipt", headers=case.citizen.headers)).json()
    assert (receipt["amount"], receipt["refunded"], receipt["refund_pending"]) == (BEFORE_TOTAL, GIVEN_BACK, AWAITED)

    pdf = await client.get(f"/v1/payments/{pid}/receipt", headers={**case.citizen.headers, "Accept": "application/pdf"})
    lines = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).splitlines()
    assert "Đã hoàn trả: 100.000 đ" in lines, lines  # given back
    assert "Đang chờ hoàn trả: 50.000 đ" in lines  # asked, not confirmed: never added to the above


async def test_the_fee_view_tells_a_refund_awaiting_the_provider_from_one_given_back(client: httpx.AsyncClient,
                                                                                    fees: Fees) -> None:
    case, _ = await _one_given_back_one_awaited(client, fees)
    view = await fees.fees_of(client, case)
    assert (view["paid"], view["refunded"], view["refund_pending"]) == (BEFORE_TOTAL, GIVEN_BACK, AWAITED)
    [obligation] = view["obligations"]
    assert (obligation["refunded"], obligation["refund_pending"]) == (GIVEN_BACK, AWAITED)


async def test_a_receipt_without_refunds_says_none(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    receipt = (await client.get(f"/v1/payments/{attempt['id']}/receipt", headers=case.citizen.headers)).json()
    assert (receipt["refunded"], receipt["refund_pending"]) == (0, 0)
    view = await fees.fees_of(client, case)
    assert (view["refunded"], view["refund_pending"]) == (0, 0)
    pdf = await client.get(f"/v1/payments/{attempt['id']}/receipt",
                           headers={**case.citizen.headers, "Accept": "application/pdf"})
    assert "hoàn trả" not in "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)


async def test_the_payment_tells_a_refund_awaiting_the_provider_from_one_given_back(client: httpx.AsyncClient,
                                                                                   fees: Fees) -> None:
    case, pid = await _one_given_back_one_awaited(client, fees)
    payment = (await client.get(f"/v1/payments/{pid}", headers=case.finance.headers)).json()
    assert (payment["refunded"], payment["refund_pending"], payment["refundable"]) == (
        GIVEN_BACK, AWAITED, BEFORE_TOTAL - GIVEN_BACK - AWAITED)
    [listed] = (await client.get(f"/v1/dossiers/{case.id}/payments",
                                      headers=case.citizen.headers)).json()["items"]
    assert (listed["refunded"], listed["refund_pending"]) == (GIVEN_BACK, AWAITED)

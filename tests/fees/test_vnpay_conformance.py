"""VNPAY adapter against VNPAY's published examples and recorded exchanges (API 2.1.0).

Sources, quoted where used:
- the PAY integration guide, https://sandbox.vnpayment.vn/apis/docs/thanh-toan-pay/pay.html (its IPN URL example,
  the IPN answer codes and retry rule, the vnp_ReturnUrl size);
- VNPAY's PHP demo vnpay_php/vnpay_ipn.php and its refund demo (as copied into public repositories);
- a cancelled payment's return URL recorded in github.com/tynnpdhsp/THNN-Social-Network/issues/59.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from app.fees.providers import use_provider
from app.fees.providers.base import CallbackRequest, RefundOrder
from app.fees.providers.vnpay import (
    QUERY_RESPONSE_FIELDS,
    VnpayProvider,
    canonical_query,
    ipn_status,
    signed_answer,
)
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Fees, later, payment_of
from tests.fees.vnpay_support import SECRET, TMN, vnpay_hash

CALLBACK = "/v1/payments/providers/vnpay/callback"
# The IPN call in VNPAY's guide ("Cài đặt Code IPN URL"), without its vnp_SecureHash (its terminal's key is not
# public): the signed string is this query exactly, as VNPAY's PHP sample rebuilds it with urlencode.
DOCUMENTED_IPN_QUERY = (
    "vnp_Amount=1000000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14226112&vnp_CardType=ATM"
    "&vnp_OrderInfo=Thanh+toan+don+hang+thoi+gian%3A+2023-12-07+17%3A00%3A44&vnp_PayDate=20231207170112"
    "&vnp_ResponseCode=00&vnp_TmnCode=CTTVNP01&vnp_TransactionNo=14226112&vnp_TransactionStatus=00&vnp_TxnRef=166117")



def _signed_ipn(ref: str, **fields: str) -> str:
    params = {"vnp_Amount": str(BEFORE_TOTAL * 100), "vnp_BankCode": "NCB", "vnp_CardType": "ATM",
              "vnp_OrderInfo": "Thanh toan phi", "vnp_PayDate": "20261207153000", "vnp_ResponseCode": "00",
              "vnp_TmnCode": TMN, "vnp_TransactionNo": "14000021", "vnp_TransactionStatus": "00",
              "vnp_TxnRef": ref} | fields
    signed = urlencode(sorted(params.items()))
    return f"{CALLBACK}?{signed}&vnp_SecureHash={vnpay_hash(signed)}"


def test_documented_ipn_query_is_the_signed_string() -> None:
    params = dict(parse_qsl(DOCUMENTED_IPN_QUERY)) | {"vnp_SecureHash": "b6dababc", "vnp_SecureHashType": "x"}
    assert canonical_query(params) == DOCUMENTED_IPN_QUERY


def test_documented_ipn_is_verified_over_that_string() -> None:
    provider = VnpayProvider(tmn_code="CTTVNP01", hash_secret=SECRET)
    query = dict(parse_qsl(DOCUMENTED_IPN_QUERY)) | {"vnp_SecureHash": vnpay_hash(DOCUMENTED_IPN_QUERY).upper()}
    event = provider.verify_callback(CallbackRequest(headers={}, query=query, body=b""))
    assert (event.provider_ref, event.txn_id, event.status, event.amount) == ("166117", "14226112", "succeeded",
                                                                              10000)


def test_names_are_form_encoded_like_values() -> None:
    # VNPAY's PHP sample signs urlencode($key) . "=" . urlencode($value); a name was signed as is.
    assert canonical_query({"vnp_a b": "1~2", "vnp_Z": "*"}) == "vnp_Z=%2A&vnp_a+b=1%7E2"


@pytest.mark.parametrize(("response_code", "transaction_status", "status"), [
    ("00", "00", "succeeded"),
    # Both must be 00 (VNPAY's .NET sample and vnpay_ipn.php demo); the docs page's PHP snippet writes `||`.
    ("00", "02", "failed"),
    ("99", "00", "failed"),
    # Recorded: a payer cancelling a QR payment (issue #59 above): vnp_TransactionNo=0, vnp_TransactionStatus=02.
    ("24", "02", "cancelled"),
    ("51", "02", "failed"),
    # 07: "Trừ tiền thành công. Giao dịch bị nghi ngờ" (debited; suspected fraud); 04: reversal, the bank debited.
    ("07", "07", "processing"),
    ("07", "00", "processing"),
    ("00", "04", "processing"),
])
def test_ipn_codes(response_code: str, transaction_status: str, status: str) -> None:
    assert ipn_status(response_code, transaction_status) == status


async def test_money_held_by_vnpay_is_no_failure(client: httpx.AsyncClient, fees: Fees, vnpay: object) -> None:
    # A 07 IPN failed the attempt: the payer could pay the same fees again while VNPAY held the first money.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case, provider="vnpay")
    ref = attempt["provider_ref"]
    held = await client.get(_signed_ipn(ref, vnp_ResponseCode="07", vnp_TransactionStatus="07"))
    assert held.json() == {"RspCode": "00", "Message": "Confirm Success"}  # recorded: VNPAY need not call again
    assert (await payment_of(client, case, attempt["id"]))["state"] == "submitted"
    assert (await fees.pay_response(client, case, provider="vnpay")).status_code == 409  # no second payment
    assert (await fees.fees_of(client, case))["paid"] == 0
    settled = await client.get(_signed_ipn(ref))  # the merchant admin accepted it: VNPAY reports success
    assert settled.json()["RspCode"] == "00"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
    assert await fees.state(client, case) == "received"


async def test_held_news_after_a_final_state_is_already_confirmed(client: httpx.AsyncClient, fees: Fees,
                                                                  vnpay: object) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case, provider="vnpay")
    assert (await client.get(_signed_ipn(attempt["provider_ref"]))).json()["RspCode"] == "00"
    late = await client.get(_signed_ipn(attempt["provider_ref"], vnp_ResponseCode="07", vnp_TransactionStatus="07"))
    assert late.json() == {"RspCode": "02", "Message": "Order already confirmed"}
    assert (await payment_of(client, case, attempt["id"]))["state"] == "succeeded"


async def test_a_held_payment_is_not_expired_while_querydr_says_nothing(client: httpx.AsyncClient, fees: Fees,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("VNPAY unreachable")

    use_provider("vnpay", VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                                        transport=httpx.MockTransport(unreachable)))
    try:
        case = await fees.case(client)
        await fees.request_payment(client, case)
        attempt = await fees.pay(client, case, provider="vnpay")
        await client.get(_signed_ipn(attempt["provider_ref"], vnp_ResponseCode="07", vnp_TransactionStatus="07"))
        later(monkeypatch, hours=3)  # past the attempt's 90 minutes
        report = await reconcile(older_than_s=0)
    finally:
        use_provider("vnpay", None)
    assert (report.expired, report.errors) == (0, 1)
    assert (await payment_of(client, case, attempt["id"]))["state"] == "submitted"


@pytest.mark.parametrize(("length", "status"), [(255, 201), (256, 422)])
async def test_vnpay_return_url_is_at_most_255_characters(client: httpx.AsyncClient, fees: Fees, vnpay: object,
                                                          length: int, status: int) -> None:
    # vnp_ReturnUrl is Alphanumeric[10,255] in the guide: VNPAY refused the payment on its own page, and the attempt
    # it left live blocked paying again for 90 minutes.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    url = "https://portal.example/" + "r" * (length - len("https://portal.example/"))
    response = await client.post(f"/v1/dossiers/{case.id}/payments", headers=case.citizen.headers,
                                 json={"provider": "vnpay", "return_url": url})
    assert response.status_code == status, response.text
    if status == 422:
        assert response.headers["content-type"].startswith("application/problem+json")
        [error] = response.json()["errors"]
        assert (error["loc"], error["type"]) == (["body", "return_url"], "return_url_length")
        assert (await fees.pay_response(client, case, provider="vnpay")).status_code == 201  # nothing left live


async def test_fakepay_keeps_long_return_urls(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    response = await client.post(f"/v1/dossiers/{case.id}/payments", headers=case.citizen.headers,
                                 json={"provider": "fakepay", "return_url": "https://portal.example/" + "r" * 400})
    assert response.status_code == 201, response.text


async def test_refund_without_vnpay_transaction_number_sends_0() -> None:
    # VNPAY's PHP refund demo: `$vnp_TransactionNo = "0"; // Tuỳ chọn, "0": giả sử merchant không ghi nhận được mã
    # GD do VNPAY phản hồi` (optional; "0" when the merchant has no VNPAY transaction number). It was "".
    seen: list[dict[str, str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"vnp_ResponseCode": "99"})

    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=httpx.MockTransport(api))
    await provider.refund(RefundOrder(refund_id=uuid.uuid4(), provider_ref="DVC1", txn_id=None, amount=5000,
                                      full=True, reason="Hoan phi", requested_by="finance-1",
                                      ordered_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC)))
    [body] = seen
    assert body["vnp_TransactionNo"] == "0"
    expected = (f"{body['vnp_RequestId']}|2.1.0|refund|{TMN}|02|DVC1|500000|0|20261207150000|finance-1|"
                f"{body['vnp_CreateDate']}|127.0.0.1|Hoan phi")
    assert body["vnp_SecureHash"] == vnpay_hash(expected)


def test_querydr_answer_is_signed_with_the_empty_promotion_fields() -> None:
    # The 15 fields, "|"-joined, the two promotion fields empty when absent (lehuygiang28/vnpay
    # src/services/query.service.ts; the same order in other public integrations): written out by hand here.
    answer = {"vnp_ResponseId": "R9", "vnp_Command": "querydr", "vnp_ResponseCode": "00", "vnp_Message": "OK",
              "vnp_TmnCode": TMN, "vnp_TxnRef": "DVC1", "vnp_Amount": "500000", "vnp_BankCode": "NCB",
              "vnp_PayDate": "20261207153000", "vnp_TransactionNo": "14000022", "vnp_TransactionType": "01",
              "vnp_TransactionStatus": "00", "vnp_OrderInfo": "Query DVC1"}
    literal = f"R9|querydr|00|OK|{TMN}|DVC1|500000|NCB|20261207153000|14000022|01|00|Query DVC1||"
    assert signed_answer(SECRET, answer | {"vnp_SecureHash": vnpay_hash(literal)}, QUERY_RESPONSE_FIELDS)
    assert not signed_answer(SECRET, answer | {"vnp_SecureHash": vnpay_hash(literal[:-2])}, QUERY_RESPONSE_FIELDS)

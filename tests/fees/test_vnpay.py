"""VNPAY adapter against the documented protocol (API 2.1.0): signed redirect, IPN answers, querydr, refund.

The recorded example is the payment URL from VNPAY's integration guide (sandbox, TMN code DEMOV210); its hash
secret is not public, so the expected hash is computed here independently over the documented query string.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import get_database
from app.fees.models import PaymentCallback
from app.fees.providers import use_provider
from app.fees.providers.base import PaymentOrder, ProviderError, RefundOrder, RefundResult
from app.fees.providers.vnpay import VnpayProvider, canonical_query
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Fees
from tests.fees.vnpay_support import (
    SECRET,
    TMN,
    querydr_answer,
    refund_answer,
    refund_api,
    signed_querydr_answer,
    signed_refund_answer,
    vnpay_hash,
)

DOCUMENTED_QUERY = (
    "vnp_Amount=1806000&vnp_Command=pay&vnp_CreateDate=20210801153333&vnp_CurrCode=VND&vnp_IpAddr=127.0.0.1"
    "&vnp_Locale=vn&vnp_OrderInfo=Thanh+toan+don+hang+%3A5&vnp_OrderType=other"
    "&vnp_ReturnUrl=https%3A%2F%2Fdomainmerchant.vn%2FReturnUrl&vnp_TmnCode=DEMOV210&vnp_TxnRef=5&vnp_Version=2.1.0")
CALLBACK = "/v1/payments/providers/vnpay/callback"


def independent_hash(data: str) -> str:
    return vnpay_hash(data)



def test_tilde_is_percent_encoded_as_vnpay_signs_it() -> None:
    # VNPAY's samples sign PHP urlencode / Java URLEncoder output, which encode `~`; Python's quote_plus keeps it.
    assert canonical_query({"vnp_ReturnUrl": "https://dvc.example/~tra-cuu?a=1 2", "x": "ignored"}) == (
        "vnp_ReturnUrl=https%3A%2F%2Fdvc.example%2F%7Etra-cuu%3Fa%3D1+2")


def test_documented_payment_url_is_reproduced() -> None:
    params = {"vnp_Amount": "1806000", "vnp_Command": "pay", "vnp_CreateDate": "20210801153333",
              "vnp_CurrCode": "VND", "vnp_IpAddr": "127.0.0.1", "vnp_Locale": "vn",
              "vnp_OrderInfo": "Thanh toan don hang :5", "vnp_OrderType": "other",
              "vnp_ReturnUrl": "https://domainmerchant.vn/ReturnUrl", "vnp_TmnCode": TMN, "vnp_TxnRef": "5",
              "vnp_Version": "2.1.0", "vnp_SecureHash": "ignored", "other": "ignored"}
    assert canonical_query(params) == DOCUMENTED_QUERY


async def test_payment_url_is_signed_with_hmac_sha512() -> None:
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, payment_url="https://sandbox.vnpayment.vn/pay")
    created_at = datetime(2021, 8, 1, 8, 33, 33, tzinfo=UTC)  # 15:33:33 in GMT+7
    url = (await provider.create(PaymentOrder(attempt_id=uuid.uuid4(), provider_ref="5",
                                              amount=18060, description="Thanh toan don hang :5",
                                              return_url="https://domainmerchant.vn/ReturnUrl",
                                              created_at=created_at))).next_url
    query, _, secure_hash = urlsplit(url).query.rpartition("&vnp_SecureHash=")
    assert secure_hash == independent_hash(query)
    params = dict(parse_qsl(query))
    assert params["vnp_Amount"] == "1806000" and params["vnp_CreateDate"] == "20210801153333"
    assert params["vnp_ExpireDate"] == "20210801170333"  # 90 minutes
    assert query.replace("&vnp_ExpireDate=20210801170333", "") == DOCUMENTED_QUERY


def _ipn(ref: str, amount: int, *, response_code: str = "00", txn: str = "14000001",
         secret: str = SECRET, tmn: str = TMN) -> str:
    params = {"vnp_Amount": str(amount * 100), "vnp_BankCode": "NCB", "vnp_CardType": "ATM",
              "vnp_OrderInfo": "Thanh toan phi", "vnp_PayDate": "20261123153000", "vnp_ResponseCode": response_code,
              "vnp_TmnCode": tmn, "vnp_TransactionNo": txn, "vnp_TransactionStatus": response_code,
              "vnp_TxnRef": ref}
    signed = urlencode(sorted(params.items()))  # stdlib form-encoding (quote_plus), sorted by name
    digest = vnpay_hash(signed, secret)
    return f"{CALLBACK}?{signed}&vnp_SecureHashType=HmacSHA512&vnp_SecureHash={digest}"


async def test_ipn_answers_in_vnpay_form(client: httpx.AsyncClient, fees: Fees, vnpay: object) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case, provider="vnpay")
    assert attempt["next_url"].startswith("https://sandbox.vnpayment.vn/pay?")
    ref = attempt["provider_ref"]

    forged = await client.post(_ipn(ref, BEFORE_TOTAL, secret="wrong"))
    assert forged.status_code == 200 and forged.json() == {"RspCode": "97", "Message": "Invalid signature"}
    unknown = await client.post(_ipn("NOSUCHREF", BEFORE_TOTAL))
    assert unknown.json()["RspCode"] == "01"
    ok = await client.get(_ipn(ref, BEFORE_TOTAL))  # VNPAY calls the IPN URL with GET
    assert ok.json() == {"RspCode": "00", "Message": "Confirm Success"}
    assert await fees.state(client, case) == "received"
    again = await client.post(_ipn(ref, BEFORE_TOTAL))
    assert again.json()["RspCode"] == "02"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_ipn_with_another_amount_is_04(client: httpx.AsyncClient, fees: Fees, vnpay: object) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case, provider="vnpay")
    wrong = await client.post(_ipn(attempt["provider_ref"], BEFORE_TOTAL + 1))
    assert wrong.json()["RspCode"] == "04"
    assert (await fees.fees_of(client, case))["paid"] == 0


async def test_lost_ipn_is_settled_by_querydr(client: httpx.AsyncClient, fees: Fees) -> None:
    seen: list[dict[str, str]] = []
    calls = {"n": 0}

    def api(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("first try fails; querydr is a read, so it is retried")
        seen.append(body)
        return httpx.Response(200, json=signed_querydr_answer({
            "vnp_ResponseId": "R1", "vnp_Command": "querydr", "vnp_ResponseCode": "00", "vnp_Message": "OK",
            "vnp_TmnCode": TMN, "vnp_TxnRef": body["vnp_TxnRef"], "vnp_Amount": str(BEFORE_TOTAL * 100),
            "vnp_BankCode": "NCB", "vnp_PayDate": "20261123153000", "vnp_TransactionNo": "14000009",
            "vnp_TransactionType": "01", "vnp_TransactionStatus": "00", "vnp_OrderInfo": body["vnp_OrderInfo"]}))

    use_provider("vnpay", VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                                        transport=httpx.MockTransport(api)))
    try:
        case = await fees.case(client)
        await fees.request_payment(client, case)
        await fees.pay(client, case, provider="vnpay")
        report = await reconcile(older_than_s=0)
    finally:
        use_provider("vnpay", None)
    assert report.settled == 1 and calls["n"] == 2
    [body] = seen
    data = "|".join(body[k] for k in ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef",
                                      "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo"))
    assert body["vnp_SecureHash"] == independent_hash(data)
    assert await fees.state(client, case) == "received"


@pytest.mark.parametrize("other", [{"vnp_TxnRef": "DVC261203OTHER"}, {"vnp_TmnCode": "OTHERTMN"}],
                         ids=["another_order", "another_terminal"])
async def test_querydr_answer_about_another_order_settles_nothing(other: dict[str, str]) -> None:
    # Signed by VNPAY, but about another order (or terminal): it was read as this order's status.
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=httpx.MockTransport(lambda request: querydr_answer(request, **other)))
    with pytest.raises(ProviderError, match="about order"):
        await provider.status("DVC261203MINE", datetime(2026, 12, 3, 8, 0, tzinfo=UTC))


async def test_refund_request_is_signed_and_never_retried() -> None:
    requests: list[dict[str, str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        raise httpx.ReadTimeout("no answer")

    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=httpx.MockTransport(api))
    result = await provider.refund(RefundOrder(
        refund_id=uuid.uuid4(), provider_ref="DVC1", txn_id="14000001", amount=1000, full=False,
        reason="Hoan phi", ordered_at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC), requested_by="finance-1"))
    assert result.state == "submitted"  # unknown outcome: left for an operator, not repeated
    [body] = requests
    assert body["vnp_TransactionType"] == "03" and body["vnp_Amount"] == "100000"
    data = "|".join(body[k] for k in ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode",
                                      "vnp_TransactionType", "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo",
                                      "vnp_TransactionDate", "vnp_CreateBy", "vnp_CreateDate", "vnp_IpAddr",
                                      "vnp_OrderInfo"))
    assert body["vnp_SecureHash"] == independent_hash(data)


async def test_ipn_for_another_terminal_is_refused_as_99(client: httpx.AsyncClient, fees: Fees, vnpay: object,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    # Signed with our key but naming another merchant's terminal: it was credited to our order like our own.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    ref = (await fees.pay(client, case, provider="vnpay"))["provider_ref"]
    with caplog.at_level(logging.WARNING):
        other = await client.get(_ipn(ref, BEFORE_TOTAL, tmn="OTHERTMN"))
    assert other.status_code == 200 and other.json() == {"RspCode": "99", "Message": "Unknow error"}
    assert any("OTHERTMN" in record.getMessage() for record in caplog.records)
    assert (await fees.fees_of(client, case))["paid"] == 0
    assert await fees.state(client, case) == "payment_requested"
    async with get_database().read_sessions() as session:
        kept = await session.scalar(select(func.count()).select_from(PaymentCallback)
                                    .where(PaymentCallback.provider_ref == ref))
    assert kept == 0
    ours = await client.get(_ipn(ref, BEFORE_TOTAL))  # the same order's own IPN still counts
    assert ours.json()["RspCode"] == "00"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


def _refund_order(amount: int = 1000) -> RefundOrder:
    return RefundOrder(refund_id=uuid.uuid4(), provider_ref="DVC1", txn_id="14000001", amount=amount, full=False,
                       reason="Hoan phi", ordered_at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
                       requested_by="finance-1")


async def _refund_answered(answer: Any) -> RefundResult:
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=refund_api(answer))
    return await provider.refund(_refund_order())


async def test_refund_answer_signed_by_vnpay_is_trusted() -> None:
    succeeded = await _refund_answered(lambda body: signed_refund_answer(refund_answer(body)))
    assert (succeeded.state, succeeded.provider_refund_id) == ("succeeded", "15000001")
    refused = await _refund_answered(lambda body: signed_refund_answer(refund_answer(body, "95")))
    assert refused.state == "failed"


@pytest.mark.parametrize(("answer", "code"), [
    (lambda body: refund_answer(body), "00"),
    (lambda body: signed_refund_answer(refund_answer(body), secret="not-our-key"), "00"),
    (lambda body: signed_refund_answer(refund_answer(body)) | {"vnp_TransactionNo": "15000002"}, "00"),
    (lambda body: signed_refund_answer(refund_answer(body, "95"), secret="not-our-key"), "95"),
], ids=["unsigned_success", "success_signed_with_another_key", "success_altered_after_signing",
        "failure_signed_with_another_key"])
async def test_refund_answer_not_signed_by_vnpay_stays_submitted(answer: Any, code: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    # An unsigned "00" was recorded as money given back, a badly signed "95" as a refund refused (amount released).
    with caplog.at_level(logging.WARNING, logger="app.fees.providers.vnpay"):
        result = await _refund_answered(answer)
    assert result.state == "submitted"
    assert any("vnp_SecureHash" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("code, state", [("95", "failed"), ("91", "failed"), ("97", "failed"),
                                         ("94", "submitted"), ("99", "submitted"), ("42", "submitted")])
async def test_an_unsigned_answer_is_a_refusal_only_when_its_code_says_so(code: str, state: str) -> None:
    # VNPAY leaves some error answers unsigned. A refusal (VNPAY did not take the request) releases the reserved
    # amount; 94 (a refund for this order already in progress) and 99 (other error) say nothing certain.
    assert (await _refund_answered(lambda body: refund_answer(body, code))).state == state


@pytest.mark.parametrize("altered", [{"vnp_TxnRef": "DVC2"}, {"vnp_Amount": "10000000"}],
                         ids=["another_order", "another_amount"])
async def test_refund_success_for_another_order_or_amount_stays_submitted(
        altered: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.fees.providers.vnpay"):
        result = await _refund_answered(lambda body: signed_refund_answer(refund_answer(body, **altered)))
    assert result.state == "submitted"
    assert any("another order or amount" in record.getMessage() for record in caplog.records)

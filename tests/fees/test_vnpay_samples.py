"""VNPAY adapter against VNPAY's demos and a recorded signature, detail by detail (the sources are listed in the
docstring of app.fees.providers.vnpay). Expected strings are written out here by the documented rule, not built
with the adapter's own functions.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from app.core.settings import Settings
from app.fees.providers.base import CallbackRejected, CallbackRequest, PaymentOrder, RefundOrder
from app.fees.providers.vnpay import VnpayProvider
from tests.fees.conftest import BEFORE_TOTAL, Fees, payment_of
from tests.fees.vnpay_support import SECRET, TMN, querydr_answer, vnpay_hash

CALLBACK = "/v1/payments/providers/vnpay/callback"

# A return from VNPAY recorded in the `vnpay` npm library's test fixtures (github.com/lehuygiang28/vnpay,
# test/__helpers__/test-fixtures.ts, DEFAULT_RETURN_QUERY_INPUT), with that library's test terminal and secret.
NPM_SECRET, NPM_TMN = "test_secret", "TEST_TMN_CODE"
NPM_RETURN = {
    "vnp_Amount": "1000000", "vnp_BankCode": "NCB", "vnp_BankTranNo": "VNP14422574", "vnp_CardType": "ATM",
    "vnp_OrderInfo": "Thanh toan don hang 2024-05-21T02:17:31.249Z", "vnp_PayDate": "20240521091806",
    "vnp_ResponseCode": "00", "vnp_TmnCode": NPM_TMN, "vnp_TransactionNo": "14422574",
    "vnp_TransactionStatus": "00", "vnp_TxnRef": "1716257871703",
    "vnp_SecureHash": "649982421beb422556a1374713c74e58e716ecbd05007c0c0e1f7effdfaf361d"
                      "bf146889ca446139afe11b9954c4d5c486e99e3b86fcfab6957f29eb0be72895"}


def _callback(params: dict[str, str]) -> CallbackRequest:
    return CallbackRequest(headers={}, query=params, body=b"")


def test_recorded_signature_of_the_npm_library_is_verified() -> None:
    provider = VnpayProvider(tmn_code=NPM_TMN, hash_secret=NPM_SECRET)
    event = provider.verify_callback(_callback(NPM_RETURN))
    assert (event.provider_ref, event.txn_id, event.amount, event.status) == ("1716257871703", "14422574", 10000,
                                                                              "succeeded")
    with pytest.raises(CallbackRejected):  # one signed field changed: the recorded signature no longer holds
        provider.verify_callback(_callback(NPM_RETURN | {"vnp_Amount": "2000000"}))


def test_recorded_signature_is_over_the_urlencoded_sorted_fields() -> None:
    # The recorded signature is HMAC-SHA512 over exactly this string (urlencode: space "+", ":" "%3A").
    literal = ("vnp_Amount=1000000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14422574&vnp_CardType=ATM"
               "&vnp_OrderInfo=Thanh+toan+don+hang+2024-05-21T02%3A17%3A31.249Z&vnp_PayDate=20240521091806"
               "&vnp_ResponseCode=00&vnp_TmnCode=TEST_TMN_CODE&vnp_TransactionNo=14422574"
               "&vnp_TransactionStatus=00&vnp_TxnRef=1716257871703")
    assert vnpay_hash(literal, NPM_SECRET) == NPM_RETURN["vnp_SecureHash"]


def _ipn(ref: str, fields: dict[str, str], signed: str) -> dict[str, str]:
    return fields | {"vnp_TxnRef": ref, "vnp_SecureHash": vnpay_hash(signed)}


IPN_FIELDS = {"vnp_Amount": "50000000", "vnp_BankCode": "NCB", "vnp_BankTranNo": "", "vnp_CardType": "ATM",
              "vnp_OrderInfo": "Thanh toan phi", "vnp_PayDate": "20261207153000", "vnp_ResponseCode": "00",
              "vnp_TmnCode": TMN, "vnp_TransactionNo": "14000031", "vnp_TransactionStatus": "00"}
# The same IPN's signed string by the Java/.NET demos and the npm library (the empty field left out) and by the PHP
# IPN demo (the empty field as `name=`).
WITHOUT_EMPTY = ("vnp_Amount=50000000&vnp_BankCode=NCB&vnp_CardType=ATM&vnp_OrderInfo=Thanh+toan+phi"
                 "&vnp_PayDate=20261207153000&vnp_ResponseCode=00&vnp_TmnCode=DEMOV210&vnp_TransactionNo=14000031"
                 "&vnp_TransactionStatus=00&vnp_TxnRef=DVC9")
WITH_EMPTY = WITHOUT_EMPTY.replace("&vnp_CardType=", "&vnp_BankTranNo=&vnp_CardType=")


@pytest.mark.parametrize("signed", [WITHOUT_EMPTY, WITH_EMPTY], ids=["java-dotnet-npm", "php"])
def test_an_ipn_with_an_empty_value_is_verified_over_either_demo_string(signed: str) -> None:
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET)
    assert provider.verify_callback(_callback(_ipn("DVC9", IPN_FIELDS, signed))).provider_ref == "DVC9"


def test_an_empty_value_does_not_open_other_strings() -> None:
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET)
    for signed in (WITHOUT_EMPTY.replace("&vnp_TxnRef=DVC9", ""), WITH_EMPTY + "&vnp_X="):
        with pytest.raises(CallbackRejected):
            provider.verify_callback(_callback(_ipn("DVC9", IPN_FIELDS, signed)))


def _order(*, description: str = "Thanh toan phi", return_url: str = "https://portal.example/return") -> PaymentOrder:
    return PaymentOrder(attempt_id=uuid.uuid4(), provider_ref="DVC7", amount=10000, description=description,
                        return_url=return_url, created_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC))


async def test_payment_url_leaves_out_empty_values_and_is_the_signed_string() -> None:
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, payment_url="https://vnpay.test/pay")
    url = (await provider.create(_order(description=""))).next_url
    query, _, digest = urlsplit(url).query.rpartition("&vnp_SecureHash=")
    assert "vnp_OrderInfo" not in query  # as the PHP demo adds an optional field only when it is not empty
    assert digest == vnpay_hash(query)


# PHP urlencode (the documented hashData) by its definition: every byte but [A-Za-z0-9_.-] as %XX, space as "+".
URLENCODED = {" ": "+", "*": "%2A", "!": "%21", "(": "%28", ")": "%29", "'": "%27", "~": "%7E", ":": "%3A",
              "/": "%2F", "?": "%3F", "=": "%3D", "&": "%26", "-": "-", ".": ".", "_": "_"}


async def test_reserved_characters_of_a_return_url_are_signed_as_urlencode_writes_them() -> None:
    return_url = "https://portal.example/a-b_c.d/(x)!*'~?q=1 2&r=:"
    expected = "".join(URLENCODED.get(ch, ch) for ch in return_url)
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, payment_url="https://vnpay.test/pay")
    url = (await provider.create(_order(return_url=return_url))).next_url
    query, _, digest = urlsplit(url).query.rpartition("&vnp_SecureHash=")
    assert f"&vnp_ReturnUrl={expected}&" in query
    assert digest == vnpay_hash(query)  # the URL carries exactly the string it is signed over
    assert dict(parse_qsl(query))["vnp_ReturnUrl"] == return_url


QUERYDR_FIELDS = {"vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef", "vnp_OrderInfo",
                  "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_SecureHash"}


async def test_querydr_sends_the_demo_fields_and_this_servers_address(settings_env: Any) -> None:
    settings_env(DVC_VNPAY_SERVER_IP="203.0.113.20")
    seen: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return querydr_answer(request, vnp_TxnRef="DVC7")

    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=httpx.MockTransport(handle))
    created = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    await provider.status("DVC7", created)
    await provider.status("DVC7", created)
    first, second = seen
    assert set(first) == QUERYDR_FIELDS  # vnpay_querydr.php's $datarq, with its vnp_SecureHash
    assert first["vnp_IpAddr"] == "203.0.113.20"
    for body in seen:  # Alphanumeric[1,32], not repeated within the day
        assert re.fullmatch(r"[A-Za-z0-9]{1,32}", body["vnp_RequestId"])
    assert first["vnp_RequestId"] != second["vnp_RequestId"]
    # sprintf('%s|%s|%s|%s|%s|%s|%s|%s|%s', RequestId, Version, Command, TmnCode, TxnRef, TransactionDate,
    # CreateDate, IpAddr, OrderInfo), HMAC-SHA512
    literal = (f"{first['vnp_RequestId']}|2.1.0|querydr|{TMN}|DVC7|20261207150000|{first['vnp_CreateDate']}"
               f"|203.0.113.20|{first['vnp_OrderInfo']}")
    assert first["vnp_SecureHash"] == vnpay_hash(literal)


async def test_refund_sends_this_servers_address(settings_env: Any) -> None:
    settings_env(DVC_VNPAY_SERVER_IP="203.0.113.20")
    seen: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"vnp_ResponseCode": "99"})

    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, api_url="https://vnpay.test/api",
                             transport=httpx.MockTransport(handle))
    await provider.refund(RefundOrder(refund_id=uuid.uuid4(), provider_ref="DVC7", txn_id="14000031", amount=4000,
                                      full=False, reason="Hoan phi", requested_by="finance-1",
                                      ordered_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC)))
    [body] = seen
    assert {"vnp_RequestId", "vnp_TransactionType", "vnp_CreateBy", "vnp_TransactionNo"} <= set(body)
    # sprintf of vnpay_refund.php: RequestId|Version|Command|TmnCode|TransactionType|TxnRef|Amount|TransactionNo|
    # TransactionDate|CreateBy|CreateDate|IpAddr|OrderInfo
    literal = (f"{body['vnp_RequestId']}|2.1.0|refund|{TMN}|03|DVC7|400000|14000031|20261207150000|finance-1|"
               f"{body['vnp_CreateDate']}|203.0.113.20|Hoan phi")
    assert body["vnp_IpAddr"] == "203.0.113.20" and body["vnp_SecureHash"] == vnpay_hash(literal)


def test_server_ip_must_be_an_address() -> None:
    with pytest.raises(ValidationError):
        Settings(vnpay_server_ip="vnpay.example")
    assert Settings().vnpay_server_ip == "127.0.0.1"


# --- the payer's address: the router passes the client address the app trusts -----------------------------------

async def _next_url_ip(client: httpx.AsyncClient, fees: Fees, headers: dict[str, str]) -> str:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    response = await client.post(f"/v1/dossiers/{case.id}/payments", headers={**case.citizen.headers, **headers},
                                 json={"provider": "vnpay", "return_url": "https://portal.example/return"})
    assert response.status_code == 201, response.text
    return dict(parse_qsl(urlsplit(response.json()["next_url"]).query))["vnp_IpAddr"]


async def test_vnp_ipaddr_is_the_payer_forwarded_by_a_trusted_proxy(client: httpx.AsyncClient, fees: Fees,
                                                                    vnpay: object) -> None:
    # The test client connects from 127.0.0.1, DVC_FORWARDED_ALLOW_IPS' default: a trusted proxy.
    assert await _next_url_ip(client, fees, {"X-Forwarded-For": "198.51.100.23"}) == "198.51.100.23"


async def test_vnp_ipaddr_ignores_forwarded_headers_from_an_untrusted_peer(app: Any, fees: Fees,
                                                                           vnpay: object) -> None:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.50", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert await _next_url_ip(client, fees, {"X-Forwarded-For": "198.51.100.23"}) == "192.0.2.50"


# --- IPN answers in the demo's order: 97, 01, 04, 02, 00 ----------------------------------------------------------

def _signed_ipn_url(ref: str, amount: int, code: str = "00", txn: str = "14000041", secret: str = SECRET) -> str:
    params = {"vnp_Amount": str(amount * 100), "vnp_BankCode": "NCB", "vnp_OrderInfo": "Thanh toan phi",
              "vnp_PayDate": "20261207153000", "vnp_ResponseCode": code, "vnp_TmnCode": TMN,
              "vnp_TransactionNo": txn, "vnp_TransactionStatus": "00" if code == "00" else "02", "vnp_TxnRef": ref}
    signed = urlencode(sorted(params.items()))
    return f"{CALLBACK}?{signed}&vnp_SecureHash={vnpay_hash(signed, secret)}"


async def _rsp(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(url)
    assert response.status_code == 200
    return str(response.json()["RspCode"])


async def test_checks_run_signature_then_order_then_amount(client: httpx.AsyncClient, fees: Fees,
                                                           vnpay: object) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    ref = (await fees.pay(client, case, provider="vnpay"))["provider_ref"]
    assert await _rsp(client, _signed_ipn_url("NOSUCH", BEFORE_TOTAL + 1, secret="wrong")) == "97"
    assert await _rsp(client, _signed_ipn_url("NOSUCH", BEFORE_TOTAL + 1)) == "01"  # order before amount
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL + 1, code="24")) == "04"


async def test_a_failed_ipn_with_another_amount_is_04_flagged_and_not_applied(client: httpx.AsyncClient,
                                                                              fees: Fees, vnpay: object) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case, provider="vnpay")
    ref, pid = attempt["provider_ref"], attempt["id"]
    for _ in range(2):  # VNPAY retries a 04: answered alike, nothing more happens
        assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL - 1000, code="51")) == "04"
    payment = await payment_of(client, case, pid)
    assert (payment["state"], payment["flag"]) == (attempt["state"], "amount_mismatch")
    assert payment["surpluses"] == []  # no money taken: nothing to refund
    # The order's own failure, with its amount, is applied and confirmed.
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL, code="51")) == "00"
    assert (await payment_of(client, case, pid))["state"] == "failed"
    # Failure news about the finished order: its amount is checked first (04), then "already confirmed" (02).
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL + 5, code="51")) == "04"
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL, code="51")) == "02"
    assert (await fees.fees_of(client, case))["paid"] == 0


async def test_a_paid_order_is_credited_once_whatever_comes_after(client: httpx.AsyncClient, fees: Fees,
                                                                  vnpay: object) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    ref = (await fees.pay(client, case, provider="vnpay"))["provider_ref"]
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL)) == "00"
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL + 7)) == "04"  # same transaction, another amount
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL)) == "02"
    assert await _rsp(client, _signed_ipn_url(ref, BEFORE_TOTAL, code="24")) == "02"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


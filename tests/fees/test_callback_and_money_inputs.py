"""Provider callbacks and money inputs at their edges: what a signed callback may carry, what a money field
accepts, and how a race or a failure on our side is answered.

A signed callback is trusted about who sent it, not about what it says: amounts that are not integers or
beyond any fee, and missing or unstorable ids, are never credited and never reach the database. VNPAY gets
every answer in its own form (`RspCode`), even when handling fails on our side.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy.exc import DataError

from app.core import clock
from app.core.problems import ProblemError
from app.fees import callbacks
from app.fees.providers import use_provider
from app.fees.providers.fakepay import SignedCallback, sign
from app.fees.providers.vnpay import VnpayProvider
from app.fees.reconcile import reconcile
from tests.fees.conftest import BEFORE_TOTAL, Case, Fees
from tests.fees.vnpay_support import (
    SECRET,
    TMN,
    refund_answer,
    refund_api,
    signed_querydr_answer,
    signed_refund_answer,
    vnpay_hash,
)

VNPAY_CALLBACK = "/v1/payments/providers/vnpay/callback"


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    # An unhandled error must come back as a 500 response to assert on, not be raised into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _vnpay(api: httpx.MockTransport | None = None) -> VnpayProvider:
    return VnpayProvider(tmn_code=TMN, hash_secret=SECRET, payment_url="https://vnpay.test/pay",
                         api_url="https://vnpay.test/api", transport=api)


@pytest.fixture
def vnpay() -> Iterator[VnpayProvider]:
    provider = _vnpay()
    use_provider("vnpay", provider)
    yield provider
    use_provider("vnpay", None)


def _fakepay_callback(fees: Fees, ref: str, *, amount: str = str(BEFORE_TOTAL),
                      txn: Any = "FPTXN1") -> SignedCallback:
    """A correctly signed fakepay success; `amount` is the raw JSON text of the amount."""
    event = {"event_id": "e1", "order_ref": ref, "transaction_id": txn, "status": "succeeded", "amount": "AMOUNT",
             "occurred_at": clock.now().isoformat()}
    return _signed(fees, json.dumps(event).replace('"AMOUNT"', amount).encode())


def _signed(fees: Fees, body: bytes) -> SignedCallback:
    """`body` as the fakepay bank sends it: signed, stamped now."""
    ts = str(int(clock.now().timestamp()))
    return SignedCallback(body, {"Content-Type": "application/json", "X-FakePay-Timestamp": ts,
                                 "X-FakePay-Signature": sign(fees.bank.secret, ts, body)})


def _ipn(ref: str, vnp_amount: int, *, txn: str | None = "14000001", order_info: str = "Thanh toan phi") -> str:
    """A correctly signed VNPAY success IPN; `vnp_amount` is already x100, as VNPAY sends it."""
    params = {"vnp_Amount": str(vnp_amount), "vnp_BankCode": "NCB", "vnp_OrderInfo": order_info,
              "vnp_PayDate": "20261123153000", "vnp_ResponseCode": "00", "vnp_TmnCode": TMN,
              "vnp_TransactionStatus": "00", "vnp_TxnRef": ref}
    if txn is not None:
        params["vnp_TransactionNo"] = txn
    signed = urlencode(sorted(params.items()))
    return f"{VNPAY_CALLBACK}?{signed}&vnp_SecureHash={vnpay_hash(signed)}"


async def _paying(client: httpx.AsyncClient, fees: Fees, provider: str = "fakepay") -> tuple[Case, dict[str, Any]]:
    """A dossier whose fees were requested, with a started online payment attempt."""
    case = await fees.case(client)
    await fees.request_payment(client, case)
    return case, await fees.pay(client, case, provider=provider)


# --- fakepay ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", [f"{BEFORE_TOTAL}.9", "Infinity", f'"{BEFORE_TOTAL}"', "true",
                                    str(10**12 + 1), str(10**25)],
                         ids=["fraction", "infinity", "string", "bool", "above_bound", "beyond_bigint"])
async def test_fakepay_amount_that_is_not_an_integer_in_range_is_malformed(client: httpx.AsyncClient, fees: Fees,
                                                                           amount: str) -> None:
    # int() used to truncate 500000.9 into a full credit, and to fail with a 500 on Infinity or 10**25.
    case, attempt = await _paying(client, fees)
    response = await fees.deliver(client, _fakepay_callback(fees, attempt["provider_ref"], amount=amount))
    assert response.status_code == 422, response.text
    assert (await fees.fees_of(client, case))["paid"] == 0


@pytest.mark.parametrize("txn", [None, "", "   ", "T" * 101], ids=["null", "empty", "blank", "too_long"])
async def test_fakepay_success_without_a_usable_transaction_id_is_malformed(client: httpx.AsyncClient, fees: Fees,
                                                                            txn: Any) -> None:
    # A null id was stored as the text "None": the next order paid that way broke the unique index (500).
    case, attempt = await _paying(client, fees)
    response = await fees.deliver(client, _fakepay_callback(fees, attempt["provider_ref"], txn=txn))
    assert response.status_code == 422, response.text
    assert (await fees.fees_of(client, case))["paid"] == 0


async def test_fakepay_fields_we_do_not_read_cannot_keep_a_success_from_being_credited(client: httpx.AsyncClient,
                                                                                       fees: Fees) -> None:
    # The callback is recorded as received: PostgreSQL refused a NUL, a lone surrogate or an infinity in it (a 422,
    # nothing credited), SQLite stored them and credited the payment.
    case, attempt = await _paying(client, fees)
    event = {"event_id": "e\u0000", "order_ref": attempt["provider_ref"], "transaction_id": "FPTXN1",
             "status": "succeeded", "amount": BEFORE_TOTAL, "note": "\ud800", "rate": "RATE"}
    body = json.dumps(event).replace('"RATE"', "1e400").encode()  # \u0000 and \ud800 in the JSON text
    response = await fees.deliver(client, _signed(fees, body))
    assert response.status_code == 200 and response.json()["outcome"] == "credited", response.text
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


async def test_a_fakepay_body_nested_too_deep_to_read_is_malformed(client: httpx.AsyncClient, fees: Fees) -> None:
    # Signed, then a 500: the JSON parser's RecursionError was not among the errors that make a body malformed.
    await _paying(client, fees)
    response = await fees.deliver(client, _signed(fees, b'{"extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


# --- VNPAY IPN ----------------------------------------------------------------------------------------------------

async def test_vnpay_ipn_with_a_nul_in_a_field_we_do_not_read_is_credited(client: httpx.AsyncClient, fees: Fees,
                                                                          vnpay: VnpayProvider) -> None:
    # PostgreSQL refused to record the IPN (answered "99": VNPAY retried the same IPN, never credited); SQLite
    # credited it.
    case, attempt = await _paying(client, fees, provider="vnpay")
    response = await client.get(_ipn(attempt["provider_ref"], BEFORE_TOTAL * 100, order_info="Thanh toan\x00phi"))
    assert response.status_code == 200 and response.json()["RspCode"] == "00", response.text
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


@pytest.mark.parametrize("txn", [None, "", "9" * 150], ids=["missing", "empty", "too_long"])
async def test_vnpay_ipn_without_a_usable_transaction_no_is_answered_99(client: httpx.AsyncClient, fees: Fees,
                                                                         vnpay: VnpayProvider, txn: str | None) -> None:
    case, attempt = await _paying(client, fees, provider="vnpay")
    response = await client.get(_ipn(attempt["provider_ref"], BEFORE_TOTAL * 100, txn=txn))
    assert response.status_code == 200 and response.json()["RspCode"] == "99", response.text
    assert (await fees.fees_of(client, case))["paid"] == 0


async def test_vnpay_ipn_amount_beyond_any_fee_is_a_flagged_mismatch(client: httpx.AsyncClient, fees: Fees,
                                                                     vnpay: VnpayProvider) -> None:
    # 10**20 đồng does not fit the BIGINT columns: it must be recognised as a mismatch before anything is stored.
    case, attempt = await _paying(client, fees, provider="vnpay")
    response = await client.get(_ipn(attempt["provider_ref"], 10**22))
    assert response.status_code == 200 and response.json()["RspCode"] == "04", response.text
    assert (await fees.fees_of(client, case))["paid"] == 0
    payment = await client.get(f"/v1/payments/{attempt['id']}", headers=case.citizen.headers)
    assert payment.json()["flag"] == "amount_mismatch"


@pytest.mark.parametrize("error", [ProblemError("conflict", "raised while applying"),
                                   DataError("INSERT ...", {}, Exception("value too long"))],
                         ids=["problem", "database"])
async def test_vnpay_ipn_failing_on_our_side_is_answered_in_vnpay_form(client: httpx.AsyncClient, fees: Fees,
                                                                       vnpay: VnpayProvider, error: Exception,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing_settle(*args: Any, **kwargs: Any) -> Any:
        raise error

    case, attempt = await _paying(client, fees, provider="vnpay")
    monkeypatch.setattr(callbacks, "settle", failing_settle)
    response = await client.get(_ipn(attempt["provider_ref"], BEFORE_TOTAL * 100))
    assert response.status_code == 200 and response.json()["RspCode"] == "99", response.text
    monkeypatch.undo()
    assert (await fees.fees_of(client, case))["paid"] == 0
    retried = await client.get(_ipn(attempt["provider_ref"], BEFORE_TOTAL * 100))  # VNPAY retries later
    assert retried.json()["RspCode"] == "00"
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL


# --- VNPAY merchant API -------------------------------------------------------------------------------------------

async def test_vnpay_refund_names_the_payment_by_its_pay_request_date(client: httpx.AsyncClient, fees: Fees,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """VNPAY identifies the original payment by vnp_TxnRef + vnp_TransactionDate = the pay request's
    vnp_CreateDate (as querydr does), not by when the payer completed it."""
    sent: list[dict[str, str]] = []
    use_provider("vnpay", _vnpay(refund_api(lambda body: signed_refund_answer(refund_answer(body)), sent)))
    try:
        case, attempt = await _paying(client, fees, provider="vnpay")
        create_date = dict(parse_qsl(urlsplit(attempt["next_url"]).query))["vnp_CreateDate"]
        later = clock.now() + timedelta(minutes=10)  # the payer took ten minutes at the bank
        monkeypatch.setattr(clock, "now", lambda: later)
        assert (await client.get(_ipn(attempt["provider_ref"], BEFORE_TOTAL * 100))).json()["RspCode"] == "00"
        refund = await client.post(f"/v1/payments/{attempt['id']}/refunds", headers=case.finance.headers,
                                   json={"amount": 1000, "reason": "Hoan phi", "expected_available": BEFORE_TOTAL})
        assert refund.status_code == 201, refund.text
        assert refund.json()["state"] == "succeeded"
    finally:
        use_provider("vnpay", None)
    [body] = sent
    assert body["vnp_TransactionDate"] == create_date


async def test_reconciliation_skips_an_unreadable_querydr_answer_and_goes_on(client: httpx.AsyncClient,
                                                                             fees: Fees) -> None:
    # A non-numeric vnp_Amount in a signed answer used to raise out of the pass, leaving every other attempt.
    bad_refs: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        ref = json.loads(request.content)["vnp_TxnRef"]
        amount = "12abc" if ref in bad_refs else str(BEFORE_TOTAL * 100)
        return httpx.Response(200, json=signed_querydr_answer({
            "vnp_ResponseId": "R1", "vnp_Command": "querydr", "vnp_ResponseCode": "00", "vnp_Message": "OK",
            "vnp_TmnCode": TMN, "vnp_TxnRef": ref, "vnp_Amount": amount, "vnp_BankCode": "NCB",
            "vnp_PayDate": "20261123153000", "vnp_TransactionNo": f"1400{ref[-4:]}", "vnp_TransactionType": "01",
            "vnp_TransactionStatus": "00", "vnp_OrderInfo": f"Query {ref}"}))

    use_provider("vnpay", _vnpay(httpx.MockTransport(api)))
    try:
        bad_case, bad = await _paying(client, fees, provider="vnpay")
        bad_refs.append(bad["provider_ref"])
        good_case, _ = await _paying(client, fees, provider="vnpay")
        report = await reconcile(older_than_s=0)
    finally:
        use_provider("vnpay", None)
    assert (report.checked, report.errors, report.settled) == (2, 1, 1), report
    assert (await fees.fees_of(client, bad_case))["paid"] == 0
    assert (await fees.fees_of(client, good_case))["paid"] == BEFORE_TOTAL


# --- money inputs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [True, "1000", 1000.0], ids=["bool", "string", "float"])
@pytest.mark.parametrize("field", ["amount", "expected_available"])
async def test_refund_money_fields_take_only_json_integers(client: httpx.AsyncClient, fees: Fees, field: str,
                                                           value: Any) -> None:
    # `true` used to be taken as 1 đồng and refunded.
    case, attempt = await fees.paid_case(client)
    body = {"amount": 1000, "reason": "Hoan phi", "expected_available": BEFORE_TOTAL} | {field: value}
    response = await client.post(f"/v1/payments/{attempt['id']}/refunds", headers=case.finance.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("value", [True, "1000", 1000.0], ids=["bool", "string", "float"])
async def test_counter_payment_amount_takes_only_json_integers(client: httpx.AsyncClient, fees: Fees,
                                                              value: Any) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    response = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                                 json={"receipt_number": "Q1", "amount": value})
    assert response.status_code == 422, response.text
    assert (await fees.fees_of(client, case))["paid"] == 0


async def test_concurrent_counter_payments_with_one_receipt_number_conflict(client: httpx.AsyncClient,
                                                                           fees: Fees) -> None:
    """Four desks record the same paper receipt for four dossiers at once: one is recorded, three get 409.
    (The race needs concurrent writers: on SQLite, which has one writer at a time, the first check settles it.)"""
    cases = []
    for _ in range(4):
        case = await fees.case(client)
        await fees.request_payment(client, case)
        cases.append(case)
    responses = await asyncio.gather(*(
        client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                    json={"receipt_number": "BL0002"}) for case in cases))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [r.text[:200] for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"conflict"}

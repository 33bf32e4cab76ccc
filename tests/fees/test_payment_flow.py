"""Step 2.3 end to end over HTTP: submit -> request_payment -> pay via fakepay -> signed callback -> received."""

from __future__ import annotations

import io

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.core.db import get_database
from app.core.outbox import OutboxEvent
from tests.fees.conftest import BEFORE_TOTAL, Fees


async def _events(kind: str) -> list[OutboxEvent]:
    async with get_database().read_sessions() as session:
        return list((await session.execute(select(OutboxEvent).where(OutboxEvent.event_type == kind))).scalars())


async def test_step_2_3_end_to_end(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    assert (await fees.fees_of(client, case))["obligations"] == []  # never at submission
    await fees.request_payment(client, case)

    view = await fees.fees_of(client, case)
    assert (view["due"], view["paid"], view["balance"]) == (BEFORE_TOTAL, 0, BEFORE_TOTAL)
    [obligation] = view["obligations"]
    assert obligation["stage"] == "before_processing"
    assert [line["amount"] for line in obligation["lines"]] == [150000, 350000]  # on_result line not yet

    attempt = await fees.pay(client, case)
    assert attempt["state"] == "started" and attempt["amount"] == BEFORE_TOTAL
    assert attempt["next_url"].startswith("/dev/fakepay/checkout/")
    assert await fees.state(client, case) == "payment_requested"

    [callback] = fees.bank.complete(attempt["provider_ref"])
    response = await fees.deliver(client, callback)
    assert response.status_code == 200 and response.json() == {"outcome": "credited"}

    assert await fees.state(client, case) == "received"  # confirm_payment, same transaction as the credit
    view = await fees.fees_of(client, case, case.reception)  # the agency's officials see it too
    assert (view["paid"], view["balance"]) == (BEFORE_TOTAL, 0)
    payment = (await client.get(f"/v1/payments/{attempt['id']}", headers=case.citizen.headers)).json()
    assert payment["state"] == "succeeded" and payment["receipt_number"]
    history = (await client.get(f"/v1/dossiers/{case.id}/history", headers=case.citizen.headers)).json()
    assert [e["action"] for e in history["items"]][-1] == "confirm_payment"
    [event] = await _events("payment.succeeded")
    assert event.payload["amount"] == BEFORE_TOTAL and event.payload["settled"] is True
    assert event.payload["dossier_id"] == case.id  # a webhook receiver finds the dossier without another call


async def test_receipt_json_and_pdf(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    receipt = await client.get(f"/v1/payments/{attempt['id']}/receipt", headers=case.citizen.headers)
    assert receipt.status_code == 200
    body = receipt.json()
    assert body["amount"] == BEFORE_TOTAL and body["receipt_number"].startswith("BL-")
    assert body["agency"]["code"] == case.dossier["agency_code"]
    assert body["payer"]["citizen_id"] == case.citizen.citizen_id
    assert [line["name"] for line in body["lines"]] == ["Lệ phí cấp giấy chứng nhận", "Phí thẩm định"]
    assert [line["paid"] for line in body["lines"]] == [line["amount"] for line in body["lines"]]  # all of it
    pdf = await client.get(f"/v1/payments/{attempt['id']}/receipt",
                           headers={**case.citizen.headers, "Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert body["receipt_number"] in text and "500.000" in text
    # One URL, two representations: a cache keyed on the URL alone served the PDF to a JSON reader.
    assert receipt.headers["vary"] == pdf.headers["vary"] == "Accept"


async def test_payments_are_invisible_to_strangers(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    stranger = await fees.accounts.citizen()
    other_agency = await fees.accounts.official("000.00.99.H99", ["finance"])
    for actor in (stranger, other_agency):
        for path in (f"/v1/payments/{attempt['id']}", f"/v1/payments/{attempt['id']}/receipt",
                     f"/v1/dossiers/{case.id}/fees"):
            response = await client.get(path, headers=actor.headers)
            assert response.status_code == 404, (path, response.text)


async def test_nothing_to_pay_before_step_2_3_and_after_paying(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    response = await fees.pay_response(client, case)
    assert response.status_code == 409 and response.json()["code"] == "nothing_to_pay"
    await fees.request_payment(client, case)
    first = await fees.pay(client, case)
    again = await fees.pay_response(client, case)
    assert again.status_code == 409 and again.json()["code"] == "payment_in_progress"
    for callback in fees.bank.complete(first["provider_ref"]):
        await fees.deliver(client, callback)
    after = await fees.pay_response(client, case)
    assert after.status_code == 409 and after.json()["code"] == "nothing_to_pay"


async def test_a_failed_payment_can_be_retried(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    first = await fees.pay(client, case)
    [declined] = fees.bank.complete(first["provider_ref"], "failed")
    assert (await fees.deliver(client, declined)).json() == {"outcome": "recorded"}
    second = await fees.pay(client, case)
    assert second["id"] != first["id"]
    for callback in fees.bank.complete(second["provider_ref"]):
        await fees.deliver(client, callback)
    assert await fees.state(client, case) == "received"


async def test_exempting_every_line_makes_a_settled_zero_obligation(client: httpx.AsyncClient,
                                                                    fees: Fees) -> None:
    case = await fees.case(client)
    requested = await fees.request_payment(client, case, exemptions=[{"item": 0, "reason": "Người có công"},
                                                                     {"item": 1, "reason": "Người có công"}])
    assert requested["state"] == "received"
    view = await fees.fees_of(client, case)
    [obligation] = view["obligations"]
    assert obligation["due"] == 0 and obligation["settled"] is True and obligation["settled_at"]
    assert all(line["exempt"] and line["exempted_by"] == str(case.reception.id) for line in obligation["lines"])
    refused = await fees.pay_response(client, case)
    assert refused.json()["code"] == "nothing_to_pay"
    # Nothing to pay: received at once, in request_payment's transaction, with the receipt and the clock.
    dossier = (await client.get(f"/v1/dossiers/{case.id}", headers=case.reception.headers)).json()
    assert dossier["state"] == "received" and dossier["national_status_code"] == 2 and dossier["due_at"]
    history = (await client.get(f"/v1/dossiers/{case.id}/history", headers=case.reception.headers)).json()
    last_two = [(entry["action"], entry["to"], entry["actor"]) for entry in history["items"][-2:]]
    assert [(action, to) for action, to, _ in last_two] == [("request_payment", "payment_requested"),
                                                           ("confirm_payment", "received")]
    assert last_two[1][2]["kind"] == "system"


async def test_partial_exemption_charges_the_rest(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case, exemptions=[{"item": 1, "reason": "Hộ nghèo"}])
    view = await fees.fees_of(client, case)
    assert view["due"] == 150000
    attempt = await fees.pay(client, case)
    assert attempt["amount"] == 150000


async def test_counter_payment_by_finance(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    path = f"/v1/dossiers/{case.id}/payments/counter"
    refused = await client.post(path, headers=case.reception.headers, json={"receipt_number": "0001234"})
    assert refused.status_code == 403
    response = await client.post(path, headers=case.finance.headers, json={"receipt_number": "0001234"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provider"] == "counter" and body["state"] == "succeeded" and body["receipt_number"] == "0001234"
    assert await fees.state(client, case) == "received"


async def test_money_for_a_dossier_withdrawn_meanwhile_is_flagged_for_a_refund(client: httpx.AsyncClient,
                                                                                fees: Fees) -> None:
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    withdrawn = await fees.transition(client, case, case.citizen, "withdraw", reason="Không còn nhu cầu")
    assert withdrawn.status_code == 200, withdrawn.text
    [callback] = fees.bank.complete(attempt["provider_ref"])  # the payer had already paid at the bank
    assert (await fees.deliver(client, callback)).status_code == 200
    assert await fees.state(client, case) == "withdrawn"
    payment = (await client.get(f"/v1/payments/{attempt['id']}", headers=case.citizen.headers)).json()
    assert payment["state"] == "succeeded" and payment["flag"] == "dossier_closed"


async def test_production_does_not_offer_the_fake_provider(client: httpx.AsyncClient, fees: Fees,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.settings import get_settings
    from app.fees import payments

    case = await fees.case(client)
    await fees.request_payment(client, case)
    prod = get_settings().model_copy(update={"env": "prod"})
    monkeypatch.setattr(payments, "get_settings", lambda: prod)
    refused = await fees.pay_response(client, case)
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body", "provider"], refused.text
    assert (await fees.fees_of(client, case))["obligations"][0]["paid"] == 0
    monkeypatch.undo()
    assert (await fees.pay_response(client, case)).status_code == 201  # no live attempt was left behind


async def test_each_receipt_says_what_its_payment_paid_of_each_line(client: httpx.AsyncClient, fees: Fees) -> None:
    # A desk payment of part of the fees, then the rest online: each receipt listed every line at its full amount,
    # so the two receipts together claimed the fees twice.
    case = await fees.case(client)
    await fees.request_payment(client, case)
    desk = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": "QD-0001", "amount": 100000})
    assert desk.status_code == 201, desk.text
    online = await fees.pay(client, case)
    assert online["amount"] == BEFORE_TOTAL - 100000
    for callback in fees.bank.complete(str(online["provider_ref"])):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"

    async def shares(payment_id: str) -> list[int]:
        receipt = await client.get(f"/v1/payments/{payment_id}/receipt", headers=case.citizen.headers)
        assert receipt.status_code == 200, receipt.text
        assert [line["amount"] for line in receipt.json()["lines"]] == [150000, 350000]
        return [line["paid"] for line in receipt.json()["lines"]]

    assert await shares(desk.json()["id"]) == [100000, 0]
    assert await shares(str(online["id"])) == [50000, 350000]
    pdf = await client.get(f"/v1/payments/{desk.json()['id']}/receipt",
                           headers={**case.citizen.headers, "Accept": "application/pdf"})
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "nộp lần này 100.000" in text

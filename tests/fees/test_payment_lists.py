"""Payment lists: a dossier's payments, and the queue finance works from (GET /v1/payments). Before, a payment
id was known only to whoever started it (or from a webhook): finance could not find what to refund."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from app.core import clock
from tests.fees.conftest import BEFORE_TOTAL, Fees
from tests.support.edges import expect_problem, forged_cursor
from tests.support.paging import pages as read_pages


def _agency() -> str:
    return f"000.{uuid.uuid4().int % 100:02d}.{uuid.uuid4().int % 100:02d}.P{uuid.uuid4().int % 100:02d}"


async def test_a_dossier_lists_its_payments_to_those_who_see_it(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    for actor in (case.citizen, case.finance):
        listed = await client.get(f"/v1/dossiers/{case.id}/payments", headers=actor.headers)
        assert listed.status_code == 200, listed.text
        [payment] = listed.json()["items"]
        assert payment["id"] == attempt["id"] and payment["state"] == "succeeded" and payment["credited"]
        assert payment["receipt_number"] and payment["surpluses"] == []
    stranger = await fees.accounts.citizen()
    expect_problem(await client.get(f"/v1/dossiers/{case.id}/payments", headers=stranger.headers), 404, "not_found")


async def test_finance_finds_flagged_payments_of_its_agency(client: httpx.AsyncClient, fees: Fees) -> None:
    agency = _agency()
    paid = await fees.case(client, agency_code=agency)
    await fees.request_payment(client, paid)
    first = await fees.pay(client, paid)
    for callback in fees.bank.complete(str(first["provider_ref"])):
        await fees.deliver(client, callback)
    mismatched = await fees.case(client, agency_code=agency)
    await fees.request_payment(client, mismatched)
    second = await fees.pay(client, mismatched)
    [callback] = fees.bank.complete(str(second["provider_ref"]), amount=BEFORE_TOTAL + 1000)
    assert (await fees.deliver(client, callback)).json()["outcome"] == "amount_mismatch"

    finance = paid.finance
    everything = (await client.get("/v1/payments", headers=finance.headers)).json()
    assert [p["id"] for p in everything["items"]] == [second["id"], first["id"]]  # newest first, this agency only
    flagged = (await client.get("/v1/payments?flagged=true", headers=finance.headers)).json()["items"]
    assert [p["id"] for p in flagged] == [second["id"]]
    [surplus] = flagged[0]["surpluses"]
    assert surplus["amount"] == BEFORE_TOTAL + 1000 and surplus["reason"] == "amount_mismatch"
    unflagged = (await client.get("/v1/payments?flagged=false&state=succeeded", headers=finance.headers)).json()
    assert [p["id"] for p in unflagged["items"]] == [first["id"]]
    assert (await client.get("/v1/payments?provider=counter", headers=finance.headers)).json()["items"] == []

    # Pages follow the cursor; the days are local days.
    one = (await client.get("/v1/payments?limit=1", headers=finance.headers)).json()
    rest = (await client.get(f"/v1/payments?limit=1&cursor={one['next_cursor']}", headers=finance.headers)).json()
    assert [p["id"] for p in one["items"] + rest["items"]] == [second["id"], first["id"]]
    today = clock.local(clock.now()).date()
    assert len((await client.get(f"/v1/payments?created_from={today}&created_to={today}",
                                 headers=finance.headers)).json()["items"]) == 2
    tomorrow = today + timedelta(days=1)
    assert (await client.get(f"/v1/payments?created_from={tomorrow}", headers=finance.headers)).json()["items"] == []

    # An applicant sees only their own; another agency's finance sees none of these.
    own = (await client.get("/v1/payments", headers=paid.citizen.headers)).json()["items"]
    assert [p["id"] for p in own] == [first["id"]]
    elsewhere = await fees.accounts.official(_agency(), ["finance"])
    assert (await client.get("/v1/payments", headers=elsewhere.headers)).json()["items"] == []


async def test_payment_list_filters_are_checked(client: httpx.AsyncClient, fees: Fees) -> None:
    case = await fees.case(client)
    for query, loc in [("state=paid", "state"), ("provider=momo", "provider"), ("agency=a%20b", "agency"),
                       ("created_from=2026-13-01", "created_from"), ("flagged=maybe", "flagged"),
                       ("refund_due=maybe", "refund_due"),
                       ("created_from=2026-03-02&created_to=2026-03-01", "created_to")]:
        body = expect_problem(await client.get(f"/v1/payments?{query}", headers=case.finance.headers),
                              422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["query", loc]]


async def _pages(client: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int) -> list[list[str]]:
    """The ids on each page of a list, following `next_cursor` until it is null."""
    return [[item["id"] for item in page["items"]] for page in await read_pages(client, url, headers, limit)]


async def _check_paged(client: httpx.AsyncClient, url: str, headers: dict[str, str], expected: list[str]) -> None:
    """API-CONVENTIONS: `?limit=` (1-200, default 50), `?cursor=`, `{"items", "next_cursor"}`; a forged cursor 422."""
    whole = (await client.get(url, headers=headers)).json()
    assert [item["id"] for item in whole["items"]] == expected and whole["next_cursor"] is None
    assert await _pages(client, url, headers, 2) == [expected[:2], expected[2:]]  # each once, in order
    assert await _pages(client, url, headers, 200) == [expected]
    for limit in (0, 201, -1):
        body = expect_problem(await client.get(f"{url}?limit={limit}", headers=headers), 422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["query", "limit"]]
    for cursor in ("bm90LWEtY3Vyc29y", forged_cursor(["yesterday", "someone"]), forged_cursor([1])):
        body = expect_problem(await client.get(f"{url}?cursor={cursor}", headers=headers), 422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["query", "cursor"]]


async def test_a_dossiers_payments_are_paged_like_every_list(client: httpx.AsyncClient, fees: Fees) -> None:
    # It answered every payment at once and ignored `limit` (partial desk payments add up to many rows).
    case = await fees.case(client)
    await fees.request_payment(client, case)
    made = []
    for _ in range(3):
        response = await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                                     json={"receipt_number": f"BL-{uuid.uuid4().hex[:12]}", "amount": 100000})
        assert response.status_code == 201, response.text
        made.append(response.json())
    url = f"/v1/dossiers/{case.id}/payments"
    newest_first = [p["id"] for p in sorted(made, key=lambda p: (p["created_at"], p["id"]), reverse=True)]
    await _check_paged(client, url, case.finance.headers, newest_first)
    await _check_paged(client, url, case.citizen.headers, newest_first)


async def test_a_payments_refunds_are_paged_like_every_list(client: httpx.AsyncClient, fees: Fees) -> None:
    case, attempt = await fees.paid_case(client)
    url = f"/v1/payments/{attempt['id']}/refunds"
    made, available = [], BEFORE_TOTAL
    for amount in (100000, 150000, 250000):
        response = await client.post(url, headers=case.finance.headers, json={
            "amount": amount, "reason": "Hồ sơ dừng xử lý", "expected_available": available})
        assert response.status_code == 201, response.text
        made.append(response.json())
        available -= amount
    oldest_first = [r["id"] for r in sorted(made, key=lambda r: (r["created_at"], r["id"]))]
    await _check_paged(client, url, case.finance.headers, oldest_first)

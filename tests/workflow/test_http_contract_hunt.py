"""PUT of a calendar override: 201 with a `Location` when it creates one (RFC 9110 §9.3.4: "If the target resource
does not have a current representation and the PUT successfully creates one, then the origin server MUST inform the
user agent by sending a 201 (Created) response"), 200 when it replaces one, and the address answers GET."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.identity_fixtures import Accounts

URL = "/v1/calendar/overrides/2027-04-03"


async def test_a_put_that_creates_is_201_and_its_address_answers(client: httpx.AsyncClient,
                                                                 accounts: Accounts) -> None:
    # It was 200 either way, and nothing answered GET at the address the PUT wrote.
    admin = await accounts.admin()
    created = await client.put(URL, headers=admin.headers, json={"working": True, "note": "Làm bù"})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == URL
    read = await client.get(created.headers["location"], headers=admin.headers)
    assert read.status_code == 200 and read.json() == created.json()
    replaced = await client.put(URL, headers=admin.headers, json={"working": False, "note": "Hủy làm bù"})
    assert replaced.status_code == 200, replaced.text
    assert "location" not in replaced.headers
    assert (await client.get(URL, headers=admin.headers)).json() == replaced.json()


async def test_reading_an_override(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin, clerk = await accounts.admin(), await accounts.official("000.00.12.H01", ["agency_admin"])
    missing = await client.get(URL, headers=admin.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert (await client.get(URL)).status_code == 401
    refused = await client.get(URL, headers=clerk.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden_role"
    assert (await client.get("/v1/calendar/overrides/2027-02-30", headers=admin.headers)).status_code == 422


async def test_two_puts_at_once_create_once(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    answers = await asyncio.gather(*(client.put(URL, headers=admin.headers, json={"working": True, "note": f"n{i}"})
                                     for i in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    listed = await client.get("/v1/calendar/overrides", headers=admin.headers)
    assert [i["date"] for i in listed.json()["items"]] == ["2027-04-03"]

"""The working-calendar API over HTTP: public working days, admin overrides, and `load_calendar`."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from app.core.db import get_database
from app.workflow import deadlines
from app.workflow.calendar_service import load_calendar, load_calendar_for_deadline
from tests.support.identity_fixtures import Accounts

WORKING_DAYS = "/v1/calendar/working-days"


async def get_days(client: httpx.AsyncClient, start: str, end: str, **params: str) -> httpx.Response:
    return await client.get(WORKING_DAYS, params={"from": start, "to": end, **params})


def by_date(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["date"]: item for item in body["items"]}


async def test_working_days_over_tet_2025_are_public(client: httpx.AsyncClient) -> None:
    response = await get_days(client, "2025-01-22", "2025-02-05")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 15
    assert items[0] == {"date": "2025-01-22", "working": True, "reason": "working day"}
    days = by_date(response.json())
    assert days["2025-01-25"] == {"date": "2025-01-25", "working": False, "reason": "weekend"}
    assert days["2025-01-29"] == {"date": "2025-01-29", "working": False, "reason": "Lunar New Year"}
    assert [d for d, item in days.items() if item["working"]] == [
        "2025-01-22", "2025-01-23", "2025-01-24", "2025-02-03", "2025-02-04", "2025-02-05"]


async def test_range_limits(client: httpx.AsyncClient) -> None:
    assert (await get_days(client, "2024-01-01", "2024-12-31")).status_code == 200  # 366 days (leap year)
    too_long = await get_days(client, "2025-01-01", "2026-01-02")  # 367 days
    assert too_long.status_code == 422
    assert too_long.headers["content-type"].startswith("application/problem+json")
    assert too_long.json()["code"] == "validation_error"
    backwards = await get_days(client, "2025-02-01", "2025-01-31")
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["loc"] == ["query", "to"]
    assert (await client.get(WORKING_DAYS, params={"from": "2025-01-01"})).status_code == 422
    assert (await get_days(client, "2025-13-01", "2025-12-31")).status_code == 422


async def test_agency_must_exist(client: httpx.AsyncClient, accounts: Accounts) -> None:
    unknown = await get_days(client, "2025-01-01", "2025-01-07", agency="NO.SUCH.AGENCY")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    await accounts.ensure_agency("000.00.12.H01")
    known = await get_days(client, "2025-01-01", "2025-01-07", agency="000.00.12.H01")
    assert known.status_code == 200
    assert len(known.json()["items"]) == 7


async def test_an_agency_open_on_saturday_mornings_says_so_on_its_ordinary_saturdays(
        client: httpx.AsyncClient, accounts: Accounts) -> None:
    from sqlalchemy import update

    from app.catalogue.models import Agency

    await accounts.ensure_agency("000.00.77.H01")
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(Agency).where(Agency.code == "000.00.77.H01").values(saturday_morning=True))
    days = by_date((await get_days(client, "2022-04-29", "2022-05-08", agency="000.00.77.H01")).json())
    open_saturday = "weekend; the desk receives until 12:00 (counted from the next working day)"
    assert days["2022-05-07"] == {"date": "2022-05-07", "working": False, "reason": open_saturday}
    assert days["2022-04-30"]["reason"] == "Liberation Day/Reunification Day"  # a holiday on a Saturday: closed
    assert days["2022-05-08"]["reason"] == "weekend"  # Sunday
    assert days["2022-05-06"]["reason"] == "working day"
    national = by_date((await get_days(client, "2022-05-07", "2022-05-07")).json())
    assert national["2022-05-07"]["reason"] == "weekend"


async def test_admin_override_makes_a_saturday_a_working_day(client: httpx.AsyncClient,
                                                              accounts: Accounts) -> None:
    admin = await accounts.admin()
    before = by_date((await get_days(client, "2027-03-05", "2027-03-08")).json())
    assert before["2027-03-06"]["working"] is False

    put = await client.put("/v1/calendar/overrides/2027-03-06", headers=admin.headers,
                           json={"working": True, "note": "Decision 123/QD-TTg swap"})
    assert put.status_code == 201, put.text  # created: the day had no override
    body = put.json()
    assert body["date"] == "2027-03-06"
    assert body["working"] is True
    assert body["note"] == "Decision 123/QD-TTg swap"
    assert body["updated_by"] == str(admin.id)

    after = by_date((await get_days(client, "2027-03-05", "2027-03-08")).json())
    assert after["2027-03-06"] == {"date": "2027-03-06", "working": True,
                                   "reason": "override: Decision 123/QD-TTg swap"}

    # PUT again replaces it (and can take a package holiday back, or give a weekday off).
    again = await client.put("/v1/calendar/overrides/2027-03-06", headers=admin.headers,
                             json={"working": False, "note": "swap cancelled"})
    assert again.status_code == 200
    final = by_date((await get_days(client, "2027-03-06", "2027-03-06")).json())
    assert final["2027-03-06"]["working"] is False
    assert final["2027-03-06"]["reason"] == "override: swap cancelled"


async def test_overrides_are_listed_by_date_with_pages(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    for day in ("2027-03-06", "2027-01-02", "2027-05-15"):
        response = await client.put(f"/v1/calendar/overrides/{day}", headers=admin.headers,
                                    json={"working": True, "note": f"swap {day}"})
        assert response.status_code == 201
    first = await client.get("/v1/calendar/overrides", params={"limit": 2}, headers=admin.headers)
    assert first.status_code == 200, first.text
    assert [i["date"] for i in first.json()["items"]] == ["2027-01-02", "2027-03-06"]
    cursor = first.json()["next_cursor"]
    assert cursor
    second = await client.get("/v1/calendar/overrides", params={"limit": 2, "cursor": cursor},
                              headers=admin.headers)
    assert [i["date"] for i in second.json()["items"]] == ["2027-05-15"]
    assert second.json()["next_cursor"] is None
    ranged = await client.get("/v1/calendar/overrides", params={"from": "2027-02-01", "to": "2027-04-01"},
                              headers=admin.headers)
    assert [i["date"] for i in ranged.json()["items"]] == ["2027-03-06"]
    bad = await client.get("/v1/calendar/overrides", params={"cursor": "not-a-cursor"}, headers=admin.headers)
    assert bad.status_code == 422


async def test_only_system_admins_change_or_list_overrides(client: httpx.AsyncClient, accounts: Accounts) -> None:
    body = {"working": True, "note": "swap"}
    anonymous = await client.put("/v1/calendar/overrides/2027-03-06", json=body)
    assert anonymous.status_code == 401
    clerk = await accounts.official("000.00.12.H01", ["reception", "agency_admin"])
    refused = await client.put("/v1/calendar/overrides/2027-03-06", headers=clerk.headers, json=body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_role"
    citizen = await accounts.citizen()
    assert (await client.put("/v1/calendar/overrides/2027-03-06", headers=citizen.headers,
                             json=body)).status_code == 403
    assert (await client.get("/v1/calendar/overrides", headers=clerk.headers)).status_code == 403
    assert (await client.get("/v1/calendar/overrides")).status_code == 401
    days = by_date((await get_days(client, "2027-03-06", "2027-03-06")).json())
    assert days["2027-03-06"]["working"] is False


async def test_override_body_is_validated(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    for body in ({"working": True, "note": "   "}, {"working": True}, {"note": "x"},
                 {"working": True, "note": "x" * 401}, {"working": True, "note": "x", "extra": 1}):
        response = await client.put("/v1/calendar/overrides/2027-03-06", headers=admin.headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    bad_date = await client.put("/v1/calendar/overrides/2027-02-30", headers=admin.headers,
                                json={"working": True, "note": "x"})
    assert bad_date.status_code == 422


async def test_load_calendar_applies_overrides_in_its_range(client: httpx.AsyncClient,
                                                            accounts: Accounts) -> None:
    admin = await accounts.admin()
    for day, working in (("2027-03-06", True), ("2027-03-10", False), ("2027-04-20", False), ("2027-09-01", True)):
        response = await client.put(f"/v1/calendar/overrides/{day}", headers=admin.headers,
                                    json={"working": working, "note": "test"})
        assert response.status_code == 201
    async with get_database().read_sessions() as session:
        calendar = await load_calendar(session, date(2027, 3, 1), date(2027, 3, 31))
        wide = await load_calendar_for_deadline(session, date(2027, 3, 5), 10)
    assert set(calendar.overrides) == {date(2027, 3, 6), date(2027, 3, 10)}
    assert calendar.is_working_day(date(2027, 3, 6))
    assert not calendar.is_working_day(date(2027, 3, 10))
    assert calendar.is_working_day(date(2027, 4, 20))  # outside the loaded range: the package decides
    assert not wide.is_working_day(date(2027, 4, 20))
    assert date(2027, 9, 1) not in wide.overrides
    # Friday 5 March 2027 + 3 working days: Saturday 6 (override), Monday 8, Tuesday 9.
    assert deadlines.due_date(deadlines.end_of_working_day(date(2027, 3, 5)), 3, calendar) == date(2027, 3, 9)


async def test_overrides_written_by_another_process_are_seen_once_the_cached_copy_expires(
        client: httpx.AsyncClient) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from app.workflow import calendar_service
    from app.workflow.models import CalendarOverride

    saturday = date(2027, 3, 13)
    async with get_database().read_sessions() as session:
        assert not (await load_calendar(session, saturday, saturday)).is_working_day(saturday)
    async with get_database().write_sessions() as session:  # as another worker would: not through this cache
        await session.execute(insert(CalendarOverride).values(date=saturday, working=True, note="swap",
                                                              updated_at=datetime(2027, 1, 1, tzinfo=UTC)))
        await session.commit()
    async with get_database().read_sessions() as session:
        assert not (await load_calendar(session, saturday, saturday)).is_working_day(saturday)  # still cached
        calendar_service._cache.expires = 0.0  # OVERRIDES_TTL_S later
        assert (await load_calendar(session, saturday, saturday)).is_working_day(saturday)

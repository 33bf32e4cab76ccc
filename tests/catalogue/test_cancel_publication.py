"""Cancelling a publication scheduled for later: the version goes back to draft, the one in force stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.catalogue import versions
from app.core import clock
from tests.support.catalogue_fixtures import ADMIN, Catalogue
from tests.support.edges import expect_problem


async def _schedule(catalogue: Catalogue, code: str, days: int, **changes: Any) -> int:
    number = await catalogue.draft(code, **changes)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, number, clock.now() + timedelta(days=days), if_match="*")
    return number


async def _history(client: httpx.AsyncClient, code: str, headers: dict[str, str]) -> list[tuple[Any, ...]]:
    items = (await client.get(f"/v1/procedures/{code}/versions", headers=headers)).json()["items"]
    return [(v["version"], v["status"], v["valid_to"] is None) for v in items]


async def _cancel(client: httpx.AsyncClient, code: str, number: int, headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"/v1/procedures/{code}/versions/{number}/cancel",
                             headers={**headers, "If-Match": "*"})


async def test_a_cancelled_publication_is_a_draft_again_and_the_version_in_force_has_no_end(
        client: httpx.AsyncClient, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    code = await catalogue.procedure("P-CANCEL", name="Cấp giấy phép hủy lịch")
    scheduled = await _schedule(catalogue, code, 10, processing_days=4)
    assert await _history(client, code, admin.headers) == [(1, "published", False), (2, "published", True)]

    version = f"/v1/procedures/{code}/versions/{scheduled}"
    missing = await client.post(f"{version}/cancel", headers=admin.headers)
    expect_problem(missing, 428, "precondition_required")
    stale = await client.post(f"{version}/cancel", headers={**admin.headers, "If-Match": '"stale"'})
    expect_problem(stale, 412, "precondition_failed")

    cancelled = await _cancel(client, code, scheduled, admin.headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["valid_from"], body["valid_to"]) == ("draft", None, None)
    assert cancelled.headers["ETag"]
    assert await _history(client, code, admin.headers) == [(1, "published", True)]
    current = (await client.get(f"/v1/procedures/{code}")).json()
    assert (current["version"], current["valid_to"]) == (1, None)

    # A draft again: it can be corrected and published anew.
    patched = await client.patch(version, json={"processing_days": 6},
                                 headers={**admin.headers, "If-Match": cancelled.headers["ETag"]})
    assert patched.status_code == 200, patched.text
    again = await client.post(f"{version}/publish", json={},
                              headers={**admin.headers, "If-Match": patched.headers["ETag"]})
    assert (again.status_code, again.json()["processing_days"]) == (200, 6)


async def test_cancelling_the_first_of_two_scheduled_versions_keeps_the_second_s_start(
        client: httpx.AsyncClient, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    code = await catalogue.procedure("P-CANCEL-2", name="Cấp giấy phép hai lịch")
    second = await _schedule(catalogue, code, 10, processing_days=4)
    third = await _schedule(catalogue, code, 20, processing_days=5)
    before = (await client.get(f"/v1/procedures/{code}/versions", headers=admin.headers)).json()["items"]
    third_start = before[2]["valid_from"]

    assert (await _cancel(client, code, second, admin.headers)).status_code == 200
    items = (await client.get(f"/v1/procedures/{code}/versions", headers=admin.headers)).json()["items"]
    assert [(v["version"], v["status"]) for v in items] == [(1, "published"), (third, "published")]
    assert items[0]["valid_to"] == items[1]["valid_from"] == third_start  # version 1 now lasts until version 3

    # Version 2 is the procedure's draft now: cancelling version 3 too would make it a second one.
    refused = expect_problem(await _cancel(client, code, third, admin.headers), 409, "conflict")
    assert refused["extra"] == {"draft_version": second}
    assert await _history(client, code, admin.headers) == [(1, "published", False), (third, "published", True)]


async def test_cancelling_the_last_scheduled_version_leaves_the_one_before_it_scheduled(
        client: httpx.AsyncClient, accounts, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    code = await catalogue.procedure("P-CANCEL-3", name="Cấp giấy phép lịch cuối")
    second = await _schedule(catalogue, code, 10, processing_days=4)
    third = await _schedule(catalogue, code, 20, processing_days=5)
    assert (await _cancel(client, code, third, admin.headers)).status_code == 200
    assert await _history(client, code, admin.headers) == [(1, "published", False), (second, "published", True)]

    later = clock.now() + timedelta(days=11)
    monkeypatch.setattr(clock, "now", lambda: later)
    current = (await client.get(f"/v1/procedures/{code}")).json()
    assert (current["version"], current["processing_days"], current["valid_to"]) == (second, 4, None)


async def test_only_a_publication_still_ahead_can_be_cancelled(
        client: httpx.AsyncClient, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    code = await catalogue.procedure("P-CANCEL-4", name="Cấp giấy phép đang hiệu lực")
    in_force = await _cancel(client, code, 1, admin.headers)
    assert "in force" in expect_problem(in_force, 409, "conflict")["detail"]
    draft = await catalogue.draft(code, processing_days=4)
    expect_problem(await _cancel(client, code, draft, admin.headers), 409, "conflict")
    expect_problem(await _cancel(client, code, 99, admin.headers), 404, "not_found")
    anonymous = await client.post(f"/v1/procedures/{code}/versions/1/cancel", headers={"If-Match": "*"})
    assert anonymous.status_code == 401
    assert await _history(client, code, admin.headers) == [(1, "published", True)]

"""A mandate's term may start later (`valid_from`), as a paper authorisation taking effect on a given day may: before
it, `X-On-Behalf-Of` refuses it exactly as after its end (the gate's one SQL rule), the list's `in_force` filter
agrees, and the organisation moves either bound with If-Match."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core import clock
from app.core.db import get_database
from app.identity.models import AccountAudit
from tests.support.identity_fixtures import Accounts, Actor

REPS = "/v1/accounts/me/representatives"
MINE = "/v1/accounts/me/notifications"


def _t(text: str | None) -> datetime | None:
    """A moment the API wrote (UTC, `Z`), read back."""
    if text is None:
        return None
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: moment)


async def _add(client: httpx.AsyncClient, org: Actor, citizen: Actor, **term: datetime | str) -> httpx.Response:
    body = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in term.items()}
    return await client.post(REPS, headers=org.headers,
                             json={"citizen_id": citizen.citizen_id, "name": citizen.name, **body})


async def _on_behalf(client: httpx.AsyncClient, who: Actor, org: Actor) -> httpx.Response:
    """A route that takes `X-On-Behalf-Of`: the account's own messages, the organisation's when acting for it."""
    return await client.get(MINE, headers={**who.headers, "X-On-Behalf-Of": str(org.id)})


async def test_a_mandate_starting_later_is_refused_until_it_starts_then_acts(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, rep, stranger, former = (await accounts.organisation(), await accounts.citizen(), await accounts.citizen(),
                                  await accounts.citizen())
    start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    _at(monkeypatch, start)
    begins = start + timedelta(days=3)
    added = await _add(client, org, rep, valid_from=begins, valid_until=begins + timedelta(days=30))
    assert added.status_code == 201, added.text
    assert (_t(added.json()["valid_from"]), added.json()["in_force"]) == (begins, False)
    await accounts.representative(org, former, valid_until=start + timedelta(days=1))
    _at(monkeypatch, begins - timedelta(microseconds=1))
    refused = [await _on_behalf(client, who, org) for who in (rep, stranger, former)]  # not begun, none, expired
    assert [r.status_code for r in refused] == [403] * 3
    assert len({(r.json()["code"], r.json()["detail"]) for r in refused}) == 1  # one answer: nothing told apart
    assert refused[0].json()["code"] == "not_a_representative"
    one = (await client.get(added.headers["location"], headers=org.headers)).json()
    assert (_t(one["valid_from"]), one["in_force"]) == (begins, False)

    _at(monkeypatch, begins)  # in force from its start exactly
    assert (await _on_behalf(client, rep, org)).status_code == 200
    one = (await client.get(added.headers["location"], headers=org.headers)).json()
    assert (_t(one["valid_from"]), one["in_force"]) == (begins, True)
    assert (await _on_behalf(client, stranger, org)).status_code == 403


@pytest.mark.parametrize(("term", "field"), [
    ({"valid_from": "past"}, "valid_from"),
    ({"valid_from": "now"}, "valid_from"),
    ({"valid_from": "2030-01-01T00:00:00"}, "valid_from"),  # no offset: which midnight?
    ({"valid_from": "in 2 days", "valid_until": "in 2 days"}, "valid_until"),  # starts as it ends
    ({"valid_from": "in 3 days", "valid_until": "in 2 days"}, "valid_until"),
])
async def test_a_start_not_in_the_future_or_not_before_the_end_is_422(
        term: dict[str, str], field: str, client: httpx.AsyncClient, accounts: Accounts,
        monkeypatch: pytest.MonkeyPatch) -> None:
    org, rep = await accounts.organisation(), await accounts.citizen()
    moment = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    _at(monkeypatch, moment)
    named = {"past": moment - timedelta(seconds=1), "now": moment, "in 2 days": moment + timedelta(days=2),
             "in 3 days": moment + timedelta(days=3)}
    refused = await _add(client, org, rep, **{key: named.get(value, value) for key, value in term.items()})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    assert refused.json()["errors"][0]["loc"] == ["body", field]
    assert (await client.get(REPS, headers=org.headers)).json()["items"] == []


async def _audit(account_id: uuid.UUID) -> list[dict[str, Any]]:
    async with get_database().read_sessions() as session:
        rows = await session.execute(select(AccountAudit.changes).where(
            AccountAudit.account_id == account_id, AccountAudit.action == "representative.changed")
            .order_by(AccountAudit.id))
        return [changes["representative"] for changes, in rows]


async def test_the_organisation_moves_both_bounds_with_if_match(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, rep = await accounts.organisation(), await accounts.citizen()
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    _at(monkeypatch, now)
    until = now + timedelta(days=30)
    added = await _add(client, org, rep, valid_until=until)
    url = added.headers["location"]

    async def patch(body: dict[str, Any], if_match: str | None) -> httpx.Response:
        json = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in body.items()}
        return await client.patch(url, json=json, headers={**org.headers, **({"If-Match": if_match} if if_match
                                                                             else {})})

    later = now + timedelta(days=5)
    assert (await patch({"valid_from": later}, None)).status_code == 428
    postponed = await patch({"valid_from": later}, '"1"')  # a mandate in force, suspended until its new start
    assert postponed.status_code == 200, postponed.text
    assert (_t(postponed.json()["valid_from"]), _t(postponed.json()["valid_until"]), postponed.json()["in_force"],
            postponed.headers["etag"]) == (later, until, False, '"2"')
    assert (await _on_behalf(client, rep, org)).status_code == 403

    def refused_on(response: httpx.Response) -> list[Any]:
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), response.text
        return [error["loc"] for error in response.json()["errors"]]

    # The error names the bound sent: a start past the stored end, an end before the stored start, both at once.
    assert refused_on(await patch({"valid_from": until}, '"2"')) == [["body", "valid_from"]]
    assert refused_on(await patch({"valid_until": later}, '"2"')) == [["body", "valid_until"]]
    assert refused_on(await patch({"valid_from": until, "valid_until": later}, '"2"')) == [["body", "valid_until"]]
    assert refused_on(await patch({"valid_from": now - timedelta(days=1)}, '"2"')) == [["body", "valid_from"]]
    both = await patch({"valid_from": now + timedelta(days=10), "valid_until": now + timedelta(days=60)}, '"2"')
    assert (_t(both.json()["valid_from"]), _t(both.json()["valid_until"]), both.headers["etag"]) == (
        now + timedelta(days=10), now + timedelta(days=60), '"3"')
    unchanged = await patch({"valid_from": now + timedelta(days=10)}, '"3"')
    assert (unchanged.status_code, unchanged.headers["etag"]) == (200, '"3"')
    at_once = await patch({"valid_from": None}, '"3"')
    assert (at_once.json()["valid_from"], at_once.json()["in_force"], at_once.headers["etag"]) == (None, True, '"4"')
    assert (await _on_behalf(client, rep, org)).status_code == 200

    changes = await _audit(org.id)
    z = clock.utc_text
    assert [(c["old"]["valid_from"], c["new"]["valid_from"], c["new"]["valid_until"]) for c in changes] == [
        (None, z(later), z(until)), (z(later), z(now + timedelta(days=10)), z(now + timedelta(days=60))),
        (z(now + timedelta(days=10)), None, z(now + timedelta(days=60)))]


async def test_the_in_force_filter_leaves_out_a_mandate_not_begun(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, soon, now_on, ended = (await accounts.organisation(), await accounts.citizen(), await accounts.citizen(),
                                await accounts.citizen())
    start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    _at(monkeypatch, start)
    later = await accounts.representative(org, soon, valid_from=start + timedelta(days=2))
    _at(monkeypatch, start + timedelta(seconds=1))  # listed oldest first: one creation time each
    current = await accounts.representative(org, now_on)
    _at(monkeypatch, start + timedelta(seconds=2))
    over = await accounts.representative(org, ended, valid_until=start + timedelta(hours=1))
    _at(monkeypatch, start + timedelta(days=1))

    async def listed(**params: str) -> list[tuple[str, bool]]:
        response = await client.get(REPS, params=params, headers=org.headers)
        assert response.status_code == 200, response.text
        return [(item["id"], item["in_force"]) for item in response.json()["items"]]

    assert await listed() == [(str(later), False), (str(current), True), (str(over), False)]
    assert await listed(in_force="true") == [(str(current), True)]
    assert await listed(in_force="false") == [(str(later), False), (str(over), False)]
    _at(monkeypatch, start + timedelta(days=2))
    assert await listed(in_force="true") == [(str(later), True), (str(current), True)]

"""`GET /v1/accounts/me/notifications`: the messages about the caller's own account (mandates), newest first,
paged, recipients masked; never another account's, never a dossier's; applicants only."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.core import clock
from tests.notifications.conftest import deliver
from tests.support.identity_fixtures import Accounts, Actor

MINE = "/v1/accounts/me/notifications"
REPS = "/v1/accounts/me/representatives"


async def _mandate_given_changed_withdrawn(client: httpx.AsyncClient, org: Actor, citizen: Actor) -> None:
    until = clock.now() + timedelta(days=400)
    added = await client.post(REPS, headers=org.headers, json={"citizen_id": citizen.citizen_id,
                                                              "name": citizen.name, "valid_until": until.isoformat()})
    assert added.status_code == 201, added.text
    read = await client.get(added.headers["location"], headers=org.headers)
    later = (until + timedelta(days=30)).isoformat()
    changed = await client.patch(added.headers["location"], json={"valid_until": later},
                                 headers={**org.headers, "If-Match": read.headers["etag"]})
    assert changed.status_code == 200, changed.text
    assert (await client.delete(added.headers["location"], headers=org.headers)).status_code == 204


async def test_an_account_reads_its_own_messages_newest_first_in_pages_masked(
        client: httpx.AsyncClient, accounts: Accounts, mail, sms) -> None:
    org = await accounts.organisation(email="org@example.vn")
    citizen = await accounts.citizen(name="Lê Thị Hoa", email="hoa@example.vn", phone="0912345678")
    other = await accounts.citizen(email="other@example.vn")
    on = await client.patch("/v1/accounts/me/notification-preferences", headers=citizen.headers, json={"sms": True})
    assert on.status_code == 200, on.text
    await _mandate_given_changed_withdrawn(client, org, citizen)
    await deliver()

    first = await client.get(MINE, headers=citizen.headers, params={"limit": 4})
    assert first.status_code == 200, first.text
    second = await client.get(MINE, headers=citizen.headers, params={"limit": 4, "cursor": first.json()["next_cursor"]})
    assert second.status_code == 200, second.text
    assert second.json()["next_cursor"] is None
    items = first.json()["items"] + second.json()["items"]
    assert len(first.json()["items"]) == 4 and len(items) == 6  # three messages, email and SMS each
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    kinds = [i["kind"] for i in items]
    assert kinds == sorted(kinds, key=["mandate_withdrawn", "mandate_changed", "mandate_given"].index)
    assert {(i["channel"], i["recipient"]) for i in items} == {("email", "h***@example.vn"), ("sms", "09******78")}
    assert "hoa@example.vn" not in first.text + second.text and "0912345678" not in first.text + second.text
    assert all(i["state"] == "delivered" and i["last_error"] is None for i in items)

    # Nobody else sees them: another citizen, and the organisation that gave the mandate (it was told nothing).
    for someone in (other, org):
        answer = await client.get(MINE, headers=someone.headers)
        assert answer.status_code == 200 and answer.json() == {"items": [], "next_cursor": None}


async def test_the_organisation_and_its_representative_read_the_expiry_reminder(
        client: httpx.AsyncClient, accounts: Accounts, mail) -> None:
    from app.identity.mandate_events import remind_expiring

    org = await accounts.organisation(email="org@example.vn")
    citizen = await accounts.citizen(email="c@example.vn")
    until = clock.now() + timedelta(days=3)
    added = await client.post(REPS, headers=org.headers, json={"citizen_id": citizen.citizen_id,
                                                              "name": citizen.name, "valid_until": until.isoformat()})
    assert added.status_code == 201, added.text
    assert await remind_expiring() == 1
    await deliver()
    [item] = (await client.get(MINE, headers=org.headers)).json()["items"]
    assert (item["kind"], item["recipient"]) == ("mandate_expiring", "o***@example.vn")
    # The representative gets the same end in a message of their own, newest first.
    ending, given = (await client.get(MINE, headers=citizen.headers)).json()["items"]
    assert (ending["kind"], ending["recipient"], given["kind"]) == ("mandate_ending", "c***@example.vn",
                                                                    "mandate_given")
    assert sorted(m["To"] for m in mail.messages if "sắp hết hạn" in m["Subject"]) == ["c@example.vn", "org@example.vn"]


async def test_dossier_messages_stay_on_the_dossier(client: httpx.AsyncClient, flow, mail) -> None:
    citizen, dossier = await flow.submitted(await flow.procedure())
    await deliver()
    assert (await client.get(f"/v1/dossiers/{dossier['id']}/notifications", headers=citizen.headers)).json()["items"]
    assert (await client.get(MINE, headers=citizen.headers)).json()["items"] == []


async def test_officials_and_clients_are_refused(client: httpx.AsyncClient, accounts: Accounts) -> None:
    official = await accounts.official("A1", ["reception"])
    integrator = await accounts.client(["dossiers:read"], ["A1"])
    for caller in (official, integrator):
        answer = await client.get(MINE, headers=caller.headers)
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden_role"
    assert (await client.get(MINE)).json()["code"] == "token_missing"


async def test_a_forged_cursor_is_a_422(client: httpx.AsyncClient, accounts: Accounts) -> None:
    citizen = await accounts.citizen()
    answer = await client.get(MINE, headers=citizen.headers, params={"cursor": "WyJ4Il0"})  # ["x"]
    assert answer.status_code == 422 and answer.json()["code"] == "validation_error"

"""A representative acting for an organisation (`X-On-Behalf-Of`) reads the organisation's account messages while
their mandate is in force, and is refused as the gate refuses otherwise; the expiry reminder reaches both the
organisation and the representative, each in their own messages."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.core import clock
from app.identity.mandate_events import remind_expiring
from tests.notifications.conftest import deliver, mail  # noqa: F401  (the SMTP fixture, used by every test here)
from tests.support.identity_fixtures import Accounts, Actor

MINE = "/v1/accounts/me/notifications"
ORG = "Công ty TNHH Thử Nghiệm"

pytestmark = pytest.mark.usefixtures("mail")


def _at(monkeypatch: pytest.MonkeyPatch, days: float) -> None:
    moment = clock.now() + timedelta(days=days)
    monkeypatch.setattr(clock, "now", lambda: moment)


async def _read(client: httpx.AsyncClient, who: Actor, org: Actor | None = None) -> httpx.Response:
    return await client.get(MINE, headers={**who.headers, **({"X-On-Behalf-Of": str(org.id)} if org else {})})


def _kinds(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(item["kind"], item["recipient"]) for item in response.json()["items"]]


async def test_a_representative_reads_the_organisations_messages_while_in_force(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org = await accounts.organisation(email="org@example.vn")
    rep = await accounts.citizen(name="Phạm Minh Tuấn", email="tuan@example.vn")
    await accounts.representative(org, rep, valid_until=clock.now() + timedelta(days=3))
    assert await remind_expiring() == 1
    await deliver()

    # The reminder went to both: the organisation's, and the representative's own (their mandate_given before it).
    assert _kinds(await _read(client, org)) == [("mandate_expiring", "o***@example.vn")]
    assert _kinds(await _read(client, rep)) == [("mandate_ending", "t***@example.vn"),
                                               ("mandate_given", "t***@example.vn")]
    # Acting for the organisation, the representative reads what the organisation reads: its messages, not their own.
    on_behalf = await _read(client, rep, org)
    assert on_behalf.json() == (await _read(client, org)).json()

    _at(monkeypatch, 3)  # the term is over: refused, as the gate refuses it for dossiers
    refused = await _read(client, rep, org)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_representative")
    assert _kinds(await _read(client, rep))[0][0] == "mandate_ending"  # their own messages stay theirs


async def test_the_representatives_reminder_says_when_it_ends(client: httpx.AsyncClient, accounts: Accounts,
                                                               mail) -> None:  # noqa: F811
    org = await accounts.organisation(email="org@example.vn")
    rep = await accounts.citizen(name="Phạm Minh Tuấn", email="tuan@example.vn")
    until = (clock.local(clock.now()) + timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    await accounts.representative(org, rep, valid_until=until)
    await remind_expiring()
    await deliver()
    given, to_rep = mail.to("tuan@example.vn")  # in the order sent: one account's messages queue per channel
    assert (given["Subject"], to_rep["Subject"]) == (f"Ông/Bà được {ORG} ủy quyền đại diện",
                                                     f"Ủy quyền đại diện cho {ORG} sắp hết hạn")
    text = str(to_rep.get_body(preferencelist=("plain",)).get_content())
    assert text.startswith("Kính gửi Phạm Minh Tuấn,") and f"mã số thuế {org.tax_code}" in text
    assert f"chỉ còn hiệu lực đến hết ngày {until - timedelta(days=1):%d/%m/%Y}" in text
    [to_org] = mail.to("org@example.vn")
    assert "Phạm Minh Tuấn" in to_org["Subject"]


async def test_no_messages_on_behalf_without_a_mandate_in_force(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, other_org = await accounts.organisation(), await accounts.organisation()
    later, stranger, official = await accounts.citizen(), await accounts.citizen(), await accounts.official(
        "A1", ["reception"])
    await accounts.representative(org, later, valid_from=clock.now() + timedelta(days=1))
    refusals = [await _read(client, who, org) for who in (later, stranger)]  # not begun yet; never authorised
    assert [r.status_code for r in refusals] == [403, 403]
    assert refusals[0].json()["detail"] == refusals[1].json()["detail"]
    assert {r.json()["code"] for r in refusals} == {"not_a_representative"}
    as_org = await _read(client, other_org, org)  # an organisation represents nobody
    assert (as_org.status_code, as_org.json()["code"]) == (403, "not_a_representative")
    as_official = await _read(client, official, org)
    assert (as_official.status_code, as_official.json()["code"]) == (403, "forbidden_role")
    await accounts.suspend(org)  # a suspended organisation: nobody acts for it
    _at(monkeypatch, 1)
    assert (await _read(client, later, org)).status_code == 403


async def test_messages_on_behalf_begin_with_the_term(client: httpx.AsyncClient, accounts: Accounts,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    org, rep = await accounts.organisation(email="org@example.vn"), await accounts.citizen()
    await accounts.representative(org, rep, valid_from=clock.now() + timedelta(days=1),
                                  valid_until=clock.now() + timedelta(days=5))
    assert await remind_expiring() == 1  # it ends within the notice period, though it has not begun
    await deliver()
    assert (await _read(client, rep, org)).status_code == 403
    _at(monkeypatch, 1)
    assert _kinds(await _read(client, rep, org)) == [("mandate_expiring", "o***@example.vn")]


async def test_a_representative_reads_only_the_organisations_messages_about_their_own_mandate(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.identity.mandate_events import announce_started

    org = await accounts.organisation(email="org@example.vn")
    rep = await accounts.citizen(name="Phạm Minh Tuấn", email="tuan@example.vn")
    other = await accounts.citizen(name="Lê Thị Hoa", email="hoa@example.vn")
    late = await accounts.citizen(name="Trần Văn Nam", email="nam@example.vn")
    await accounts.representative(org, rep, valid_until=clock.now() + timedelta(days=3))
    await accounts.representative(org, other, valid_until=clock.now() + timedelta(days=4))
    await accounts.representative(org, late, valid_from=clock.now() + timedelta(hours=1),
                                  valid_until=clock.now() + timedelta(days=5))
    assert await remind_expiring() == 3
    _at(monkeypatch, 1)
    assert await announce_started() == 1
    await deliver()

    everything = (await _read(client, org)).json()["items"]
    assert len(everything) == 4  # three reminders and one start, each naming its representative
    for who, name in ((rep, "Phạm Minh Tuấn"), (other, "Lê Thị Hoa"), (late, "Trần Văn Nam")):
        mine = (await _read(client, who, org)).json()
        assert mine["next_cursor"] is None
        assert all(name in item["subject"] for item in mine["items"]), mine
        expected = [i for i in everything if name in i["subject"]]
        assert mine["items"] == expected and expected
    assert [i["kind"] for i in (await _read(client, late, org)).json()["items"]] == ["mandate_started",
                                                                                      "mandate_expiring"]

    # Paged one at a time, the cursor walks only what the representative may read: no empty page, no other's item.
    seen, cursor = [], None
    while True:
        page = await client.get(MINE, params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                                headers={**late.headers, "X-On-Behalf-Of": str(org.id)})
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) == 1
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [i["id"] for i in seen] == [i["id"] for i in everything if "Trần Văn Nam" in i["subject"]]

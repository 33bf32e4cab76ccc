"""A representative's mandate: the citizen is told when an organisation gives, changes or withdraws it, and the
organisation is reminded once per term, DVC_MANDATE_EXPIRY_NOTICE_DAYS before it ends. Account-level messages:
no dossier, the account's own addresses and choices, never webhook events."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core import clock
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.identity.mandate_events import announce_started, remind_expiring
from app.integration.schemas import WEBHOOK_EVENT_TYPES
from app.integration.webhooks import WebhookConsumer
from app.notifications.accounts import term_end, term_start
from app.notifications.render import ACCOUNT_KINDS, LANGUAGES, render
from tests.notifications.conftest import deliver, message_rows
from tests.support.identity_fixtures import Accounts, Actor

REPS = "/v1/accounts/me/representatives"
ORG = "Công ty TNHH Thử Nghiệm"


def _text(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def _midnight_after(days: int) -> datetime:
    """Local midnight `days` ahead: a paper term "until the end of" the day before."""
    return (clock.local(clock.now()) + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


async def _add(client: httpx.AsyncClient, org: Actor, citizen: Actor, until: datetime | None) -> httpx.Response:
    body = {"citizen_id": citizen.citizen_id, "name": citizen.name,
            **({"valid_until": until.isoformat()} if until else {})}
    response = await client.post(REPS, headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return response


async def _change(client: httpx.AsyncClient, org: Actor, added: httpx.Response, until: datetime) -> httpx.Response:
    current = await client.get(added.headers["location"], headers=org.headers)
    response = await client.patch(added.headers["location"], json={"valid_until": until.isoformat()},
                                  headers={**org.headers, "If-Match": current.headers["etag"]})
    assert response.status_code == 200, response.text
    return response


async def _events(event_type: str) -> list[OutboxEvent]:
    async with get_database().read_sessions() as session:
        stmt = select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        return list((await session.execute(stmt)).scalars())


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: moment)


def _later(monkeypatch: pytest.MonkeyPatch, days: float) -> None:
    moment = clock.now() + timedelta(days=days)
    monkeypatch.setattr(clock, "now", lambda: moment)


async def test_the_citizen_is_told_when_a_mandate_is_given_changed_and_withdrawn(
        client: httpx.AsyncClient, accounts: Accounts, mail) -> None:
    org = await accounts.organisation(email="org@example.vn")
    citizen = await accounts.citizen(name="Lê Thị Hoa", email="hoa@example.vn")
    until = _midnight_after(400)
    added = await _add(client, org, citizen, until)
    await _change(client, org, added, until + timedelta(days=365))
    assert (await client.delete(added.headers["location"], headers=org.headers)).status_code == 204
    await deliver()
    assert [m["To"] for m in mail.messages] == ["hoa@example.vn"] * 3  # the organisation is told nothing
    given, changed, withdrawn = mail.messages
    day = until - timedelta(days=1)
    assert given["Subject"] == f"Ông/Bà được {ORG} ủy quyền đại diện"
    text = _text(given)
    assert text.startswith("Kính gửi Lê Thị Hoa,") and f"mã số thuế {org.tax_code}" in text
    assert f"Thời hạn ủy quyền: đến hết ngày {day:%d/%m/%Y}." in text and "Mã hồ sơ" not in text
    assert f"- Thời hạn trước đây: đến hết ngày {day:%d/%m/%Y}" in _text(changed)
    assert f"- Thời hạn mới: đến hết ngày {day + timedelta(days=365):%d/%m/%Y}" in _text(changed)
    assert withdrawn["Subject"] == f"{ORG} thu hồi ủy quyền đại diện"
    rows = await message_rows()
    assert [(r.kind, r.account_id, r.dossier_id, r.required) for r in rows] == [
        ("mandate_given", citizen.id, None, False), ("mandate_changed", citizen.id, None, False),
        ("mandate_withdrawn", citizen.id, None, False)]
    assert rows[0].subject == given["Subject"] and rows[0].body is not None
    [event] = await _events("representative.removed")
    assert event.aggregate_type == "representative" and event.payload["citizen_account_id"] == str(citizen.id)


async def test_the_citizen_is_told_when_a_mandate_starts(client: httpx.AsyncClient, accounts: Accounts, mail) -> None:
    org = await accounts.organisation()
    citizen = await accounts.citizen(name="Lê Thị Hoa", email="hoa@example.vn")
    start, until = _midnight_after(10), _midnight_after(400)
    body = {"citizen_id": citizen.citizen_id, "name": citizen.name, "valid_from": start.isoformat(),
            "valid_until": until.isoformat()}
    added = await client.post(REPS, headers=org.headers, json=body)
    assert added.status_code == 201, added.text
    changed = await client.patch(added.headers["location"], json={"valid_from": None},
                                 headers={**org.headers, "If-Match": added.headers["etag"]})
    assert changed.status_code == 200, changed.text
    await deliver()
    given, moved = mail.messages
    day = until - timedelta(days=1)
    assert (f"Ủy quyền có hiệu lực từ ngày {start:%d/%m/%Y} đến hết ngày {day:%d/%m/%Y}. "
            "Trước thời điểm bắt đầu, Ông/Bà chưa thể thay mặt tổ chức.") in _text(given)
    assert f"- Thời hạn trước đây: từ ngày {start:%d/%m/%Y}, đến hết ngày {day:%d/%m/%Y}" in _text(moved)
    assert f"- Thời hạn mới: đến hết ngày {day:%d/%m/%Y}" in _text(moved)
    [event] = await _events("representative.changed")
    assert (event.payload["valid_from"], event.payload["previous_valid_from"]) == (None, clock.utc_text(start))


async def test_a_term_set_to_the_same_end_and_a_citizen_without_channels_get_nothing(
        client: httpx.AsyncClient, accounts: Accounts, mail) -> None:
    org = await accounts.organisation()
    citizen = await accounts.citizen(email="quiet@example.vn")
    off = await client.patch("/v1/accounts/me/notification-preferences", headers=citizen.headers,
                             json={"email": False})
    assert off.status_code == 200, off.text
    until = _midnight_after(100)
    added = await _add(client, org, citizen, until)
    await _change(client, org, added, until)  # nothing changed: no event
    await deliver()
    assert mail.messages == [] and await message_rows() == []
    assert len(await _events("representative.added")) == 1 and await _events("representative.changed") == []


async def test_the_organisation_is_reminded_once_per_term(client: httpx.AsyncClient, accounts: Accounts, mail,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    org = await accounts.organisation(email="org@example.vn")
    citizen = await accounts.citizen(name="Phạm Minh Tuấn", email="tuan@example.vn")
    unlimited = await accounts.citizen(email="unlimited@example.vn")
    until = _midnight_after(30)
    added = await _add(client, org, citizen, until)
    await _add(client, org, unlimited, None)
    assert await remind_expiring() == 0  # 30 days ahead: not yet
    etag = (await client.get(added.headers["location"], headers=org.headers)).headers["etag"]
    _later(monkeypatch, 24)  # six days left: within the default seven
    assert await remind_expiring() == 1
    assert await remind_expiring() == 0  # once
    # The reminder is no change to the mandate: its ETag stays, so the organisation's next PATCH is not refused.
    assert (await client.get(added.headers["location"], headers=org.headers)).headers["etag"] == etag
    await deliver()
    [reminder] = mail.to("org@example.vn")
    assert reminder["Subject"] == "Ủy quyền đại diện cho Phạm Minh Tuấn sắp hết hạn"
    day = until - timedelta(days=1)
    assert f"chỉ còn hiệu lực đến hết ngày {day:%d/%m/%Y}" in _text(reminder)
    [row] = [r for r in await message_rows() if r.kind == "mandate_expiring"]
    assert (row.account_id, row.dossier_id) == (org.id, None)

    # Extended by ten days: a new term, reminded again when its own end comes near, not before.
    await _change(client, org, added, until + timedelta(days=10))
    assert await remind_expiring() == 0
    _later(monkeypatch, 10)
    assert await remind_expiring() == 1
    assert len(await _events("representative.expiring")) == 2
    _later(monkeypatch, 10)  # the term is over: an expired mandate is not reminded
    assert await remind_expiring() == 0


async def test_the_notice_period_is_a_setting(client: httpx.AsyncClient, accounts: Accounts,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.settings import get_settings

    org, citizen = await accounts.organisation(), await accounts.citizen()
    await _add(client, org, citizen, _midnight_after(20))
    monkeypatch.setenv("DVC_MANDATE_EXPIRY_NOTICE_DAYS", "21")
    get_settings.cache_clear()
    try:
        assert await remind_expiring() == 1
    finally:
        monkeypatch.delenv("DVC_MANDATE_EXPIRY_NOTICE_DAYS")
        get_settings.cache_clear()


async def test_workers_at_once_remind_each_mandate_once(client: httpx.AsyncClient, accounts: Accounts) -> None:
    org = await accounts.organisation()
    for _ in range(3):
        await _add(client, org, await accounts.citizen(), _midnight_after(3))
    counts = await asyncio.gather(*(remind_expiring() for _ in range(4)))
    assert sum(counts) == 3
    assert len(await _events("representative.expiring")) == 3


async def test_the_worker_runs_the_reminder(client: httpx.AsyncClient, accounts: Accounts) -> None:
    import app.identity.tasks  # noqa: F401  (registers the task, as `dvc worker` does at start)
    from app.core.worker import registered_tasks, run_worker

    org, citizen = await accounts.organisation(), await accounts.citizen()
    await _add(client, org, citizen, _midnight_after(2))
    assert await run_worker(asyncio.Event(), tasks=[registered_tasks()["identity.mandate_expiry"]], once=True) == []
    assert len(await _events("representative.expiring")) == 1


async def _add_later(client: httpx.AsyncClient, org: Actor, citizen: Actor, start: datetime,
                     until: datetime | None = None) -> httpx.Response:
    body = {"citizen_id": citizen.citizen_id, "name": citizen.name, "valid_from": start.isoformat(),
            **({"valid_until": until.isoformat()} if until else {})}
    response = await client.post(REPS, headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return response


async def test_both_are_told_once_when_a_mandate_given_in_advance_begins(
        client: httpx.AsyncClient, accounts: Accounts, mail, monkeypatch: pytest.MonkeyPatch) -> None:
    org = await accounts.organisation(email="org@example.vn")
    citizen = await accounts.citizen(name="Lê Thị Hoa", email="hoa@example.vn")
    at_once = await accounts.citizen(email="now@example.vn")
    start, until = _midnight_after(10), _midnight_after(400)
    await _add_later(client, org, citizen, start, until)
    await _add(client, org, at_once, None)  # in force from when it is given: mandate_given said it all
    assert await announce_started() == 0  # not begun yet
    _at(monkeypatch, start - timedelta(microseconds=1))
    assert await announce_started() == 0
    _at(monkeypatch, start)  # in force from its start exactly (the gate's rule)
    assert await announce_started() == 1
    assert await announce_started() == 0  # once
    _at(monkeypatch, start + timedelta(days=3))
    assert await announce_started() == 0
    await deliver()
    day = until - timedelta(days=1)
    [to_org] = mail.to("org@example.vn")
    assert to_org["Subject"] == "Ủy quyền đại diện cho Lê Thị Hoa bắt đầu có hiệu lực"
    assert (f"đã có hiệu lực từ ngày {start:%d/%m/%Y}: từ nay người này có thể nộp hồ sơ và xem hồ sơ của tổ chức, "
            f"đến hết ngày {day:%d/%m/%Y}.") in _text(to_org)
    _given, started = mail.to("hoa@example.vn")
    assert started["Subject"] == f"Ủy quyền đại diện cho {ORG} bắt đầu có hiệu lực"
    assert _text(started).startswith("Kính gửi Lê Thị Hoa,") and f"mã số thuế {org.tax_code}" in _text(started)
    assert "từ nay Ông/Bà có thể nộp hồ sơ" in _text(started)
    assert [m["To"] for m in mail.to("now@example.vn")] == ["now@example.vn"]  # its mandate_given only
    rows = [(r.kind, r.account_id, r.dossier_id) for r in await message_rows() if r.kind == "mandate_started"]
    assert sorted(rows, key=str) == sorted([("mandate_started", citizen.id, None), ("mandate_started", org.id, None)],
                                           key=str)
    [citizen_event] = await _events("representative.started")
    [org_event] = await _events("representative.effective")
    assert citizen_event.payload == org_event.payload
    assert citizen_event.payload["valid_from"] == clock.utc_text(start)


async def test_a_start_moved_later_is_told_when_it_comes_and_an_ended_term_never(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, citizen, brief = await accounts.organisation(), await accounts.citizen(), await accounts.citizen()
    start = _midnight_after(2)
    added = await _add_later(client, org, citizen, start)
    await _add_later(client, org, brief, start, start + timedelta(hours=1))
    etag = added.headers["etag"]
    moved = await client.patch(added.headers["location"], json={"valid_from": (start + timedelta(days=5)).isoformat()},
                               headers={**org.headers, "If-Match": etag})
    assert moved.status_code == 200, moved.text
    _at(monkeypatch, start + timedelta(hours=2))  # the brief term came and went while no worker ran: nothing to tell
    assert await announce_started() == 0
    _at(monkeypatch, start + timedelta(days=5))
    assert await announce_started() == 1
    [event] = await _events("representative.started")
    assert event.payload["citizen_account_id"] == str(citizen.id)
    # Told of: no change to the mandate, its ETag stays.
    assert (await client.get(added.headers["location"], headers=org.headers)).headers["etag"] == moved.headers["etag"]


async def test_workers_at_once_tell_each_start_once(client: httpx.AsyncClient, accounts: Accounts,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    org = await accounts.organisation()
    for _ in range(3):
        await _add_later(client, org, await accounts.citizen(), _midnight_after(1))
    _later(monkeypatch, 2)
    counts = await asyncio.gather(*(announce_started() for _ in range(4)))
    assert sum(counts) == 3
    assert len(await _events("representative.started")) == 3 and len(await _events("representative.effective")) == 3


async def test_the_worker_tells_starts(client: httpx.AsyncClient, accounts: Accounts,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import app.identity.tasks  # noqa: F401  (registers the task, as `dvc worker` does at start)
    from app.core.worker import registered_tasks, run_worker

    org, citizen = await accounts.organisation(), await accounts.citizen()
    await _add_later(client, org, citizen, _midnight_after(1))
    _later(monkeypatch, 2)
    assert await run_worker(asyncio.Event(), tasks=[registered_tasks()["identity.mandate_start"]], once=True) == []
    assert len(await _events("representative.started")) == 1


async def test_mandate_events_are_not_webhook_events(client: httpx.AsyncClient, accounts: Accounts) -> None:
    org, citizen = await accounts.organisation(), await accounts.citizen()
    await _add(client, org, citizen, None)
    [event] = await _events("representative.added")
    assert not any(t.startswith("representative.") for t in WEBHOOK_EVENT_TYPES)
    async with get_database().write_sessions() as session, session.begin():
        assert await WebhookConsumer().targets(session, event) == []


@pytest.mark.parametrize("to_organisation", [False, True])
@pytest.mark.parametrize("start", [None, "2027-03-01T00:00:00+07:00"])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ACCOUNT_KINDS)
def test_every_mandate_template_renders(kind: str, language: str, start: str | None, to_organisation: bool) -> None:
    context = {"lang": language, "recipient_name": None, "to_organisation": to_organisation,
               "organisation_name": ORG, "tax_code": "0101234567",
               "citizen_name": "Lê Thị Hoa", "valid_until": term_end("2028-01-01T00:00:00+07:00", language),
               "previous_valid_until": None, "valid_from": term_start(start, language),
               "previous_valid_from": term_start(start, language)}
    rendered = render(kind, language, context)
    assert rendered.text.startswith("Kính gửi Ông/Bà," if language == "vi" else "Dear Sir or Madam,")
    assert "{{" not in rendered.text and "\n\n\n" not in rendered.text and "\n" not in rendered.subject
    assert 0 < len(rendered.short) <= 400 and ORG in rendered.text


def test_a_term_end_reads_as_people_say_it() -> None:
    assert term_end("2027-12-31T17:00:00Z", "vi") == "hết ngày 31/12/2027"
    assert term_end("2027-12-31T17:00:00Z", "en") == "the end of 31/12/2027"
    assert term_end("2027-12-31T10:00:00Z", "vi") == "17:00 ngày 31/12/2027"
    assert term_end(None, "vi") is None
    assert term_start("2027-02-28T17:00:00Z", "vi") == "ngày 01/03/2027"
    assert term_start("2027-02-28T17:00:00Z", "en") == "01/03/2027"
    assert term_start("2027-03-01T01:30:00Z", "en") == "01/03/2027 08:30 (UTC+7)"
    assert term_start(None, "en") is None

"""Faults: SMTP down (retried, visible, then delivered when it is back), provider 5xx and error codes, dead after
the configured attempts, no duplicates on retried or concurrent workers, channels that are off, masked logs."""

from __future__ import annotations

import asyncio
import logging

from app.core.settings import get_settings
from app.notifications import channels
from app.notifications.consumer import retry_schedule
from tests.notifications.conftest import deliver, make_due, message_rows

PHONE = "0912345678"
URL = "/v1/accounts/me/notification-preferences"


async def _states(client, actor, dossier_id):  # type: ignore[no-untyped-def]
    response = await client.get(f"/v1/dossiers/{dossier_id}/notifications", headers=actor.headers)
    assert response.status_code == 200
    return [(i["kind"], i["channel"], i["state"], i["attempts"]) for i in response.json()["items"]]


async def test_smtp_outage_is_retried_then_delivered_without_blocking_sms(client, flow, accounts, mail, sms, caplog):
    code = await flow.procedure()
    citizen = await accounts.citizen(email="giang@example.vn", phone=PHONE)
    await client.patch(URL, headers=citizen.headers, json={"sms": True})
    _, dossier = await flow.submitted(code, citizen)
    did = dossier["id"]
    await flow.act(flow.reception, did, "receive")
    mail.stop()
    with caplog.at_level(logging.INFO):
        stats = await deliver()
    assert stats.failed == 1 and stats.delivered == 2  # the first email failed, the second waits behind it
    assert mail.messages == [] and len(sms.received) == 2  # SMS is not held up by email
    assert await _states(client, citizen, did) == [
        ("submitted", "email", "pending", 1), ("submitted", "sms", "delivered", 1),
        ("received", "email", "pending", 0), ("received", "sms", "delivered", 1)]
    errors = (await client.get(f"/v1/dossiers/{did}/notifications", headers=flow.reception.headers)).json()
    assert "SMTP" in errors["items"][0]["last_error"] and errors["items"][0]["next_attempt_at"]
    mine = (await client.get(f"/v1/dossiers/{did}/notifications", headers=citizen.headers)).json()
    assert mine["items"][0]["last_error"] is None  # provider details are for officials
    assert "giang@example.vn" not in caplog.text and PHONE not in caplog.text and "84912345678" not in caplog.text
    assert "g***@example.vn" in caplog.text or "09******78" in caplog.text

    # The dossier is not held up: the workflow goes on while email is down.
    await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))
    mail.start()
    await deliver()  # the retry is not due yet (backoff): nothing sent
    assert mail.messages == []
    await make_due()
    await deliver()
    assert [m["Subject"].split("] ", 1)[1][:20] for m in mail.messages] == ["Hồ sơ đã được gửi đế",
                                                                           "Hồ sơ đã được tiếp n"]
    assert len(sms.received) == 2  # nothing resent on the channel that had worked
    assert [s for _, _, s, _ in await _states(client, citizen, did)] == ["delivered"] * 4
    await make_due()
    await deliver()
    assert len(mail.messages) == 2 and len(sms.received) == 2


async def test_provider_5xx_goes_dead_after_the_configured_attempts(client, flow, accounts, sms, zalo, monkeypatch):
    monkeypatch.setenv("DVC_NOTIFICATION_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    code = await flow.procedure()
    citizen = await accounts.citizen(phone=PHONE)
    await client.patch(URL, headers=citizen.headers, json={"email": False, "sms": True, "zalo": True})
    sms.fail(status=503)
    zalo.fail(error=-124, times=1)  # Zalo refuses once (bad token), then accepts
    _, dossier = await flow.submitted(code, citizen)
    did = dossier["id"]
    await deliver()
    assert await _states(client, citizen, did) == [("submitted", "sms", "pending", 1),  # retried: pending
                                                   ("submitted", "zalo", "pending", 1)]
    for _ in range(2):
        await make_due()
        await deliver()
    assert await _states(client, citizen, did) == [("submitted", "sms", "failed", 3),  # attempts used up
                                                   ("submitted", "zalo", "delivered", 2)]
    assert sms.requests == 3 and sms.received == [] and len(zalo.received) == 1
    official = (await client.get(f"/v1/dossiers/{did}/notifications", headers=flow.reception.headers)).json()
    assert official["items"][0]["last_error"].startswith("ChannelError: SMS provider answered HTTP 503")
    assert official["items"][0]["next_attempt_at"] is None
    # Nothing lost from the dossier: it is still submitted and can be received.
    assert (await flow.get(citizen, did))["state"] == "submitted"
    await flow.act(flow.reception, did, "receive")
    sms.recover()
    await deliver()
    assert len(sms.received) == 1 and "đã được tiếp nhận" in sms.received[0]["Content"]
    monkeypatch.delenv("DVC_NOTIFICATION_MAX_ATTEMPTS")
    get_settings.cache_clear()


def test_retry_schedule_backs_off() -> None:
    assert [d.total_seconds() for d in retry_schedule(6)] == [60, 180, 540, 1620, 4860]
    assert retry_schedule(1) == [] and max(retry_schedule(20)).total_seconds() == 6 * 3600


async def test_no_duplicate_on_retried_or_concurrent_workers(client, flow, accounts, mail, sms, zalo):
    code = await flow.procedure()
    citizen = await accounts.citizen(email="hoa@example.vn", phone=PHONE)
    await client.patch(URL, headers=citizen.headers, json={"sms": True, "zalo": True})
    zalo.fail(status=502, times=1)
    _, dossier = await flow.submitted(code, citizen)
    await flow.act(flow.reception, dossier["id"], "receive")
    await asyncio.gather(deliver(), deliver(), deliver())  # several workers at once
    for _ in range(3):  # the worker retried, again and again
        await make_due()
        await asyncio.gather(deliver(), deliver())
    assert len(mail.messages) == 2 and len(sms.received) == 2 and len(zalo.received) == 2
    assert len({m["Message-ID"] for m in mail.messages}) == 2
    rows = await message_rows()
    assert sorted((r.kind, r.channel) for r in rows) == sorted(
        (k, c) for k in ("submitted", "received") for c in ("email", "sms", "zalo"))


async def test_unconfigured_channels_are_off_and_say_so(client, flow, accounts, caplog):
    with caplog.at_level(logging.INFO, logger="app.notifications"):
        lines = channels.announce(force=True)
    assert lines == ["notification channel email off: set DVC_SMTP_HOST, DVC_MAIL_FROM",
                     "notification channel sms off: set DVC_SMS_API_KEY, DVC_SMS_SECRET_KEY, DVC_SMS_BRANDNAME",
                     "notification channel zalo off: set DVC_ZALO_ACCESS_TOKEN, DVC_ZALO_TEMPLATE_ID"]
    assert "email off" in caplog.text
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    await flow.act(flow.reception, dossier["id"], "reject", reason="Sai thẩm quyền")
    with caplog.at_level(logging.WARNING, logger="app.notifications"):
        stats = await deliver()
    assert stats.fanned_out == 0 and await message_rows() == []
    assert "no channel for refused message" in caplog.text


async def test_configured_channels_are_announced(mail, sms) -> None:
    lines = channels.announce(force=True)
    assert lines[0] == f"notification channel email on: SMTP 127.0.0.1:{mail.port} from {get_settings().mail_from}"
    assert lines[1].startswith("notification channel sms on: SMS provider https://rest.esms.vn/")
    assert lines[2].startswith("notification channel zalo off")


async def test_sms_without_unicode_drops_diacritics(client, flow, accounts):
    from app.notifications.channels.sms import FakeSmsProvider, SmsChannel

    fake = FakeSmsProvider()
    settings = get_settings().model_copy(update={"sms_api_key": fake.api_key, "sms_secret_key": fake.secret_key,
                                                 "sms_brandname": "DVC", "sms_unicode": False})
    channels.install(SmsChannel(settings, transport=fake.transport))
    try:
        code = await flow.procedure()
        citizen = await accounts.citizen(phone=PHONE)
        await client.patch(URL, headers=citizen.headers, json={"sms": True})
        _, dossier = await flow.submitted(code, citizen)
        await deliver()
    finally:
        channels.uninstall_all()
    [sent] = fake.received
    assert sent["IsUnicode"] == 0 and sent["Content"].startswith(f"DVC: Ho so {dossier['code']} da duoc gui luc ")
    assert sent["Content"].isascii()

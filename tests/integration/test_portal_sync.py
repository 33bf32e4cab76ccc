"""National-portal sync through the outbox against the fake portal (real HTTP semantics via httpx)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from app.core.db import get_database
from app.core.delivery import DEAD, DELIVERED, PENDING, deliver_due, fan_out
from app.core.outbox import OutboxEvent
from app.integration.models import DossierSyncStatus
from app.integration.portal import CONSUMER, NationalPortalConsumer, retry_delays
from tests.integration.conftest import (
    PortalKit,
    deliveries,
    dossier_uuid,
    make_due,
    receive,
    submitted_dossier,
)
from tests.support.identity_fixtures import DEFAULT_AGENCY


async def test_a_submission_reaches_the_portal_in_its_published_shape(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                      portal: PortalKit) -> None:
    dossier = await submitted_dossier(client, accounts, dossiers)
    stats = await portal.run()
    assert (stats.fanned_out, stats.delivered) == (1, 1)
    [call] = portal.fake.received
    assert call.path == "/api/hoso/dongbohosomc"
    assert call.headers["x-client-id"] == "dvc-hatinh"
    assert call.headers["authorization"] == "Bearer s3cret"
    assert call.body["service"] == "DongBoHoSoMC" and call.body["isUpdating"] is False
    [record] = call.body["data"]
    assert record["MaHoSo"] == dossier["code"] and record["MaHoSoTinh"] == dossier["code"]
    assert record["MaTTHC"] == dossier["procedure_code"] and record["MaDonVi"] == DEFAULT_AGENCY
    assert record["TrangThaiHoSo"] == "1" and record["KenhThucHien"] == "2"  # the portal's code for online
    assert record["TenTTHC"] == dossier["procedure_name"] and record["LoaiDoiTuong"] == "1"
    assert record["ChuHoSo"] == (dossier["applicant"]["name"] or "")
    assert (record["NgayTiepNhan"], record["NgayHenTra"], record["NgayKetThucXuLy"]) == ("", "", "")  # not received
    assert record["HinhThuc"] == ("1" if dossier["delivery"]["method"] == "post" else "0")
    assert record["DonViXuLy"] and all(isinstance(value, str | list) for value in record.values())
    assert len(record["NgayCapNhat"]) == 14 and record["NgayCapNhat"].isdigit()
    async with get_database().read_sessions() as session:
        status = await session.get(DossierSyncStatus, dossier_uuid(dossier))
    assert status is not None and status.last_synced_code == 1


async def test_disabled_sync_records_nothing(client, accounts, dossiers, portal: PortalKit) -> None:  # type: ignore[no-untyped-def]
    await submitted_dossier(client, accounts, dossiers)
    consumer = NationalPortalConsumer(portal.adapter)  # enabled from settings: false by default
    assert (await fan_out(consumer)) == 0
    assert await deliveries(CONSUMER) == []
    assert portal.fake.received == []


async def test_a_failed_delivery_survives_and_is_retried_in_order(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                 portal: PortalKit) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    dossier = await submitted_dossier(client, accounts, dossiers)
    await receive(client, reception, dossier["id"])
    portal.fake.fail_next(1, status=503)
    stats = await portal.run()
    assert (stats.fanned_out, stats.failed, stats.delivered) == (2, 1, 0)
    first, second = await deliveries(CONSUMER)
    assert (first.state, first.attempts) == (PENDING, 1) and "HTTP 503" in (first.last_error or "")
    assert (second.state, second.attempts) == (PENDING, 0)  # held back behind the failed one
    await portal.run()  # not due yet: backoff
    assert len(portal.fake.received) == 1
    await make_due()
    await portal.run()
    assert [r["TrangThaiHoSo"] for r in portal.fake.accepted] == ["1", "2"]
    assert [d.state for d in await deliveries(CONSUMER)] == [DELIVERED, DELIVERED]
    assert portal.fake.received[-1].body["isUpdating"] is True


async def test_a_crash_between_commit_and_delivery_loses_nothing(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                                portal: PortalKit) -> None:
    dossier = await submitted_dossier(client, accounts, dossiers)
    # The worker died before its pass: the event is committed and waits.
    async with get_database().read_sessions() as session:
        events = (await session.execute(select(OutboxEvent.event_type).where(
            OutboxEvent.aggregate_id == dossier_uuid(dossier)))).scalars().all()
    assert "dossier.submitted" in events
    # The next worker fans it out, then dies mid-call (not an Exception: nothing gets recorded).
    await fan_out(portal.consumer)

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed")

    original = portal.adapter.send
    portal.adapter.send = killed  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await deliver_due(portal.consumer)
    portal.adapter.send = original  # type: ignore[method-assign]
    [row] = await deliveries(CONSUMER)
    assert (row.state, row.attempts) == (PENDING, 0)
    await make_due()  # the lease runs out
    await portal.run()
    assert [r["MaHoSo"] for r in portal.fake.accepted] == [dossier["code"]]


async def test_timeouts_and_refusals_are_failures(client, accounts, dossiers, portal: PortalKit) -> None:  # type: ignore[no-untyped-def]
    await submitted_dossier(client, accounts, dossiers)
    portal.adapter.timeout_s = 0.2
    portal.fake.fail_next(1, mode="timeout")
    await portal.run()
    [row] = await deliveries(CONSUMER)
    assert row.state == PENDING and "no answer within 0.2 s" in (row.last_error or "")
    portal.fake.fail_next(1, mode="reject")
    await make_due()
    await portal.run()
    [row] = await deliveries(CONSUMER)
    assert row.attempts == 2 and "error_code=99" in (row.last_error or "")
    await make_due()
    await portal.run()
    assert [d.state for d in await deliveries(CONSUMER)] == [DELIVERED]


async def test_dead_after_max_attempts_and_listed(client, accounts, dossiers, portal: PortalKit,  # type: ignore[no-untyped-def]
                                                  settings_env: Any) -> None:
    settings_env(DVC_NATIONAL_PORTAL_MAX_ATTEMPTS="3")
    assert len(portal.consumer.retry_delays()) == 2
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.mode = "error"
    for _ in range(5):
        await portal.run()
        await make_due()
    [row] = await deliveries(CONSUMER)
    assert (row.state, row.attempts) == (DEAD, 3)
    admin = await accounts.admin()
    listed = await client.get("/v1/integration/sync?state=dead", headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert [(i["dossier_id"], i["attempts"]) for i in listed.json()["items"]] == [(dossier["id"], 3)]
    assert (await client.get("/v1/integration/sync?state=failed", headers=admin.headers)).json()["items"] == []
    view = await client.get(f"/v1/dossiers/{dossier['id']}/sync", headers=admin.headers)
    assert view.json()["deliveries"][0]["state"] == "dead" and view.json()["last_synced_code"] is None


def test_backoff_is_exponential_and_capped() -> None:
    delays = [d.total_seconds() for d in retry_delays(8)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920]
    assert max(d.total_seconds() for d in retry_delays(20)) == 3600


async def test_sync_state_is_visible_to_the_agency_only(client, accounts, dossiers, portal: PortalKit) -> None:  # type: ignore[no-untyped-def]
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.fail_next(1)
    await portal.run()
    own = await accounts.official(DEFAULT_AGENCY, ["processing"])
    other = await accounts.official("000.00.99.H01", ["processing"])
    syncer = await accounts.client(["dossiers:sync"], [DEFAULT_AGENCY])
    outsider = await accounts.client(["dossiers:sync"], ["000.00.99.H01"])
    for actor, expected in ((own, 1), (syncer, 1), (other, 0), (outsider, 0)):
        response = await client.get("/v1/integration/sync?state=failed", headers=actor.headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == expected
    seen = await client.get(f"/v1/dossiers/{dossier['id']}/sync", headers=syncer.headers)
    assert seen.status_code == 200 and seen.json()["deliveries"][0]["attempts"] == 1
    assert (await client.get(f"/v1/dossiers/{dossier['id']}/sync", headers=outsider.headers)).status_code == 404
    citizen = await accounts.citizen()
    assert (await client.get("/v1/integration/sync", headers=citizen.headers)).status_code == 403


async def test_replay_resends_the_current_state(client, accounts, dossiers, portal: PortalKit) -> None:  # type: ignore[no-untyped-def]
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    dossier = await submitted_dossier(client, accounts, dossiers)
    await receive(client, reception, dossier["id"])
    await portal.run()
    assert [r["TrangThaiHoSo"] for r in portal.fake.accepted] == ["1", "2"]
    admin = await accounts.admin()
    assert (await client.post(f"/v1/integration/sync/{dossier['id']}/replay",
                              headers=reception.headers)).status_code == 403
    replayed = await client.post(f"/v1/integration/sync/{dossier['id']}/replay", headers=admin.headers)
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["national_status_code"] == 2
    await portal.run()
    assert [r["TrangThaiHoSo"] for r in portal.fake.accepted] == ["1", "2", "2"]
    view = (await client.get(f"/v1/dossiers/{dossier['id']}/sync", headers=admin.headers)).json()
    assert [d["event_type"] for d in view["deliveries"]] == [
        "dossier.submitted", "dossier.status_changed", "dossier.sync_replay"]
    assert view["last_synced_code"] == 2


async def test_several_workers_keep_each_dossier_in_order(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                          portal: PortalKit) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    submitted = [await submitted_dossier(client, accounts, dossiers) for _ in range(4)]
    for dossier in submitted:
        await receive(client, reception, dossier["id"])
    await fan_out(portal.consumer)
    for _ in range(3):
        await asyncio.gather(*(deliver_due(portal.consumer) for _ in range(3)))
    by_dossier: dict[str, list[str]] = {}
    for record in portal.fake.accepted:
        by_dossier.setdefault(record["MaHoSo"], []).append(record["TrangThaiHoSo"])
    assert by_dossier == {d["code"]: ["1", "2"] for d in submitted}

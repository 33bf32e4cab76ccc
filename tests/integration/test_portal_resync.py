"""Resync: the national portal catches up on every dossier it was not told about (disabled, or down)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import typer
from typer.testing import CliRunner

from app.core.delivery import PENDING, fan_out
from app.integration.portal import CONSUMER, NationalPortalConsumer
from tests.integration.conftest import PortalKit, deliveries, make_due, receive, submitted_dossier
from tests.support.identity_fixtures import DEFAULT_AGENCY


@pytest.fixture
def enabled(settings_env: Callable[..., None]) -> None:
    """The portal switched back on (the worker's passes below use the kit's consumer)."""
    settings_env(DVC_NATIONAL_PORTAL_ENABLED="true")


async def _disabled_pass(portal: PortalKit) -> None:
    """A worker pass with the portal switched off: the events are consumed, nothing is queued."""
    await fan_out(NationalPortalConsumer(portal.adapter, enabled=False))


def _codes(portal: PortalKit) -> list[tuple[str, str]]:
    return sorted((r["MaHoSo"], r["TrangThaiHoSo"]) for r in portal.fake.accepted)


async def test_resync_queues_only_what_the_portal_is_behind_on(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                               portal: PortalKit, enabled: None) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    admin = await accounts.admin()
    missed = [await submitted_dossier(client, accounts, dossiers) for _ in range(2)]
    await _disabled_pass(portal)
    assert await deliveries(CONSUMER) == []
    synced = await submitted_dossier(client, accounts, dossiers)
    await portal.run()  # enabled again: only what happened since reaches the portal
    assert _codes(portal) == [(synced["code"], "1")]

    assert (await client.post("/v1/integration/sync/resync", json={},
                              headers=reception.headers)).status_code == 403
    other_agency = await client.post("/v1/integration/sync/resync", json={"agency_code": "000.00.99.H01"},
                                     headers=admin.headers)
    assert other_agency.status_code == 202 and other_agency.json() == {"queued": 0, "next_after": None}

    first = await client.post("/v1/integration/sync/resync", json={"limit": 1}, headers=admin.headers)
    assert first.status_code == 202, first.text
    assert first.json()["queued"] == 1 and first.json()["next_after"] is not None
    rest = await client.post("/v1/integration/sync/resync", json={"limit": 1, "after": first.json()["next_after"]},
                             headers=admin.headers)
    assert rest.json() == {"queued": 1, "next_after": None}  # the synced dossier is not queued again
    await portal.run()
    assert _codes(portal) == sorted([(synced["code"], "1"), *((d["code"], "1") for d in missed)])
    again = await client.post("/v1/integration/sync/resync", json={}, headers=admin.headers)
    assert again.json() == {"queued": 0, "next_after": None}

    # A change the portal missed: it knows code 1, the dossier is at 2 now.
    await receive(client, reception, synced["id"])
    await _disabled_pass(portal)
    moved = await client.post("/v1/integration/sync/resync", json={}, headers=admin.headers)
    assert moved.json() == {"queued": 1, "next_after": None}
    await portal.run()
    assert portal.fake.accepted[-1]["MaHoSo"] == synced["code"] and portal.fake.accepted[-1]["TrangThaiHoSo"] == "2"
    view = (await client.get(f"/v1/dossiers/{synced['id']}/sync", headers=admin.headers)).json()
    assert view["last_synced_code"] == 2 and view["deliveries"][-1]["event_type"] == "dossier.sync_replay"


async def test_resync_skips_a_dossier_whose_state_is_still_waiting_to_be_sent(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit, enabled: None) -> None:
    admin = await accounts.admin()
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.fail_next(1, status=503)
    await portal.run()  # the portal is down: the submission waits for its retry
    assert [d.state for d in await deliveries(CONSUMER)] == [PENDING]
    waiting = await client.post("/v1/integration/sync/resync", json={}, headers=admin.headers)
    assert waiting.json() == {"queued": 0, "next_after": None}  # a second copy would only double the backlog
    await make_due()
    await portal.run()
    assert [(r["MaHoSo"], r["TrangThaiHoSo"]) for r in portal.fake.accepted] == [(dossier["code"], "1")]


async def test_resync_queues_a_dossier_that_moved_on_behind_a_pending_older_state(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit, settings_env) -> None:
    """Code 1 waits for a portal that is down; the portal is switched off, the dossier is received (code 2, no
    delivery made); switched on again, the resync must queue code 2 although code 1 is still pending."""
    settings_env(DVC_NATIONAL_PORTAL_ENABLED="true")
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    admin = await accounts.admin()
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.fail_next(1, status=503)
    await portal.run()
    await receive(client, reception, dossier["id"])
    await _disabled_pass(portal)
    queued = await client.post("/v1/integration/sync/resync", json={}, headers=admin.headers)
    assert queued.json() == {"queued": 1, "next_after": None}
    await make_due()
    await portal.run()
    assert [r["TrangThaiHoSo"] for r in portal.fake.accepted] == ["1", "2"]


async def test_resync_is_refused_while_the_portal_is_disabled(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                              settings_env) -> None:
    from app.integration.commands import register

    settings_env(DVC_NATIONAL_PORTAL_ENABLED="false")
    admin = await accounts.admin()
    await submitted_dossier(client, accounts, dossiers)
    refused = await client.post("/v1/integration/sync/resync", json={}, headers=admin.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "portal_disabled"
    assert "DVC_NATIONAL_PORTAL_ENABLED" in refused.json()["detail"]
    cli = typer.Typer()
    register(cli)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["portal", "resync"])
    assert result.exit_code == 1 and "disabled" in result.output


async def test_resync_rejects_bad_input(client, accounts) -> None:  # type: ignore[no-untyped-def]
    admin = await accounts.admin()
    for body in ({"limit": 0}, {"limit": 5001}, {"after": "not-a-uuid"}, {"agency_code": ""}, {"extra": 1}):
        response = await client.post("/v1/integration/sync/resync", json=body, headers=admin.headers)
        assert response.status_code == 422 and response.json()["code"] == "validation_error", body
    # Checked before the portal's switch is read (it is off here): a NUL reached the database as a filter.
    nul = await client.post("/v1/integration/sync/resync", json={"agency_code": "000.00.12\x00H01"},
                            headers=admin.headers)
    assert nul.status_code == 422 and [e["loc"] for e in nul.json()["errors"]] == [["body", "agency_code"]], nul.text
    unset = await client.post("/v1/integration/sync/resync", json={"agency_code": None}, headers=admin.headers)
    assert unset.status_code == 409 and unset.json()["code"] == "portal_disabled", unset.text  # every agency


async def test_the_command_resyncs_every_agency_in_batches(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                           portal: PortalKit, enabled: None) -> None:
    from app.integration.commands import register

    missed = [await submitted_dossier(client, accounts, dossiers) for _ in range(3)]
    await _disabled_pass(portal)
    cli = typer.Typer()
    register(cli)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["portal", "resync", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "done: 3 dossiers queued" in result.output
    await portal.run()
    assert _codes(portal) == sorted((d["code"], "1") for d in missed)

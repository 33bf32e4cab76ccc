"""`isUpdating` tells the portal whether it already holds the dossier: false creates its record, true updates it.

A dossier the portal never acknowledged (its submission was sent while the portal was switched off, or went dead
while the portal was down) must reach it as a new record, whatever event carries it: as an update of a record the
portal does not have, the fake portal (like the real one) refuses it, and resync could never catch the portal up.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.core.delivery import DEAD, DELIVERED, fan_out
from app.integration.portal import CONSUMER, NationalPortalConsumer
from tests.integration.conftest import PortalKit, deliveries, make_due, receive, submitted_dossier
from tests.support.identity_fixtures import DEFAULT_AGENCY


@pytest.fixture
def enabled(settings_env: Callable[..., None]) -> None:
    settings_env(DVC_NATIONAL_PORTAL_ENABLED="true")


def _calls(portal: PortalKit, code: str) -> list[tuple[bool, str, bool]]:
    """(isUpdating, status, accepted) of each call about the dossier `code`, in order."""
    return [(r.body["isUpdating"], item["TrangThaiHoSo"], bool(r.body.get("_accepted")))
            for r in portal.fake.received for item in r.body.get("data", []) if item["MaHoSo"] == code]


async def test_the_fake_portal_refuses_an_update_of_a_dossier_it_does_not_hold(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    dossier = await submitted_dossier(client, accounts, dossiers)
    await receive(client, reception, dossier["id"])
    await portal.run()
    assert _calls(portal, dossier["code"]) == [(False, "1", True), (True, "2", True)]
    portal.fake.reset()
    portal.fake.received.clear()
    assert portal.fake.holds(dossier["code"]) is False  # reset forgets what it held


async def test_resync_of_a_dossier_the_portal_never_got_creates_it(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit, enabled: None) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    admin = await accounts.admin()
    dossier = await submitted_dossier(client, accounts, dossiers)
    await receive(client, reception, dossier["id"])
    await fan_out(NationalPortalConsumer(portal.adapter, enabled=False))  # the portal was switched off
    queued = await client.post("/v1/integration/sync/resync", json={}, headers=admin.headers)
    assert queued.json()["queued"] == 1
    await portal.run()
    assert _calls(portal, dossier["code"]) == [(False, "2", True)]
    assert [d.state for d in await deliveries(CONSUMER)] == [DELIVERED]
    view = (await client.get(f"/v1/dossiers/{dossier['id']}/sync", headers=admin.headers)).json()
    assert view["last_synced_code"] == 2


async def test_a_change_after_a_submission_that_went_dead_creates_the_record(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit, settings_env) -> None:
    settings_env(DVC_NATIONAL_PORTAL_MAX_ATTEMPTS="1")
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.fail_next(1, status=503)
    await portal.run()  # the submission's only attempt fails: dead
    await receive(client, reception, dossier["id"])
    await make_due()
    await portal.run()
    assert _calls(portal, dossier["code"]) == [(False, "1", False), (False, "2", True)]
    assert [d.state for d in await deliveries(CONSUMER)] == [DEAD, DELIVERED]
    assert portal.fake.holds(dossier["code"]) is True

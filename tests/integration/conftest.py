"""Integration test kit: the fake national portal behind httpx.ASGITransport, a fake DNS, delivery helpers.

    async def test_x(client, accounts, dossiers, portal, sync):
        ...submit a dossier...
        await sync.run()                         # one worker pass of the `national_portal` consumer
        assert portal.fake.accepted[0]["TrangThaiHoSo"] == "1"
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.core import clock
from app.core.db import get_database
from app.core.delivery import PENDING, Delivery, RunStats, run_consumer
from app.integration import ssrf
from app.integration.fakeportal import FakePortal
from app.integration.portal import NationalPortal, NationalPortalConsumer
from app.integration.portal_progress import NationalPortalProgressConsumer
from tests.support.identity_fixtures import Accounts, Actor

PUBLIC_IP = "93.184.216.34"


class FakeDns:
    """Name -> addresses; anything else does not resolve (tests have no DNS)."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}

    def set(self, host: str, *addresses: str) -> None:
        self.names[host] = list(addresses)

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.names:
            raise OSError(f"no such host {host}")
        return self.names[host]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(ssrf, "resolve", fake.resolve)
    return fake


class PortalKit:
    def __init__(self) -> None:
        self.fake = FakePortal(client_id="dvc-hatinh", secret="s3cret")
        self.adapter = NationalPortal("http://portal.test", client_id="dvc-hatinh", secret="s3cret",
                                      timeout_s=2.0, transport=httpx.ASGITransport(app=self.fake.app))
        self.consumer = NationalPortalConsumer(self.adapter, enabled=True)
        self.progress = NationalPortalProgressConsumer(self.adapter, enabled=True)

    async def run(self) -> RunStats:
        """Worker passes until one has nothing to do (a pass sends at most one event per dossier: the next
        one waits until the earlier is delivered)."""
        return await self._drain(self.consumer)

    async def run_progress(self) -> RunStats:
        """The same for the processing history (`CapNhatTienDoHoSoMC`), which the worker sends after the records."""
        return await self._drain(self.progress)

    async def _drain(self, consumer: NationalPortalConsumer) -> RunStats:
        total = RunStats()
        for _ in range(20):
            stats = await run_consumer(consumer)
            for name in ("fanned_out", "delivered", "failed", "dead"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            if not (stats.fanned_out or stats.delivered):
                break
        return total

    async def aclose(self) -> None:
        await self.adapter.aclose()


@pytest.fixture
async def portal(app: Any) -> AsyncIterator[PortalKit]:
    kit = PortalKit()
    yield kit
    await kit.aclose()


async def make_due(consumer: str | None = None) -> None:
    """Let time pass: every pending delivery becomes due now (instead of waiting for its backoff), and any
    worker's lease on one has run out."""
    stmt = update(Delivery).where(Delivery.state == PENDING)
    if consumer:
        stmt = stmt.where(Delivery.consumer == consumer)
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(stmt.values(next_attempt_at=clock.now(), leased_until=None))


async def deliveries(consumer: str) -> list[Delivery]:
    async with get_database().read_sessions() as session:
        return list((await session.execute(select(Delivery).where(Delivery.consumer == consumer)
                                           .order_by(Delivery.id))).scalars())


async def receive(client: httpx.AsyncClient, official: Actor, dossier_id: str) -> dict[str, Any]:
    """The reception official takes the dossier in (status code 2), over HTTP."""
    read = await client.get(f"/v1/dossiers/{dossier_id}", headers=official.headers)
    response = await client.post(f"/v1/dossiers/{dossier_id}/transitions", json={"action": "receive"},
                                 headers={**official.headers, "If-Match": read.headers["etag"]})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def submitted_dossier(client: httpx.AsyncClient, accounts: Accounts, dossiers: Any,
                            agency: str | None = None) -> dict[str, Any]:
    code = await dossiers.procedure(agency) if agency else await dossiers.procedure()
    citizen = await accounts.citizen()
    return dict(await dossiers.submitted(client, citizen, code))


def dossier_uuid(dossier: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(dossier["id"])

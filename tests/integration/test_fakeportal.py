"""The fake portal's own controls (what `dvc fake-portal` offers in dev), and the worker wiring."""

from __future__ import annotations

import httpx

from app.integration.fakeportal import SYNC_PATH, FakePortal

MESSAGE = {"service": "DongBoHoSoMC", "data": [{"MaHoSo": "X-1", "TrangThaiHoSo": "1"}]}
AUTH = {"X-Client-Id": "c", "Authorization": "Bearer s"}


async def test_the_fake_is_controlled_over_http() -> None:
    portal = FakePortal(client_id="c", secret="s")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.app), base_url="http://fake") as http:
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).json()["error_code"] == "0"
        assert (await http.post(SYNC_PATH, json=MESSAGE)).status_code == 401  # no credentials
        await http.post("/_fake/mode", json={"mode": "error", "times": 1, "status": 502})
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).status_code == 502
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).status_code == 200
        await http.post("/_fake/mode", json={"mode": "reject"})
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).json()["error_code"] == "99"
        assert (await http.post("/_fake/mode", json={"mode": "explode"})).status_code == 422
        received = (await http.get("/_fake/received")).json()
        assert len(received) == 5 and received[0]["body"]["data"][0]["MaHoSo"] == "X-1"
        assert len(portal.accepted) == 2
        assert (await http.delete("/_fake/received")).status_code == 204
        assert (await http.get("/_fake/received")).json() == []


def test_the_worker_runs_both_consumers() -> None:
    from app.core.worker import load_domain_tasks, registered_tasks

    load_domain_tasks()
    assert {"integration.national_portal", "integration.webhooks"} <= set(registered_tasks())

"""The fake portal's own controls (what `dvc fake-portal` offers in dev), and the worker wiring."""

from __future__ import annotations

import httpx

from app.integration.fakeportal import SYNC_PATH, FakePortal

MESSAGE = {"service": "DongBoHoSoMC", "data": [{"MaHoSo": "X-1", "TrangThaiHoSo": "1"}]}
UPDATE = {"service": "DongBoHoSoMC", "isUpdating": True, "data": [{"MaHoSo": "X-1", "TrangThaiHoSo": "2"}]}
AUTH = {"X-Client-Id": "c", "Authorization": "Bearer s"}


async def test_the_fake_is_controlled_over_http() -> None:
    portal = FakePortal(client_id="c", secret="s")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.app), base_url="http://fake") as http:
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).json()["error_code"] == "0"
        assert (await http.post(SYNC_PATH, json=MESSAGE)).status_code == 401  # no credentials
        await http.post("/_fake/mode", json={"mode": "error", "times": 1, "status": 502})
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).status_code == 502
        assert (await http.post(SYNC_PATH, json=UPDATE, headers=AUTH)).status_code == 200
        await http.post("/_fake/mode", json={"mode": "reject"})
        assert (await http.post(SYNC_PATH, json=MESSAGE, headers=AUTH)).json()["error_code"] == "99"
        assert (await http.post("/_fake/mode", json={"mode": "explode"})).status_code == 422
        received = (await http.get("/_fake/received")).json()
        assert len(received) == 5 and received[0]["body"]["data"][0]["MaHoSo"] == "X-1"
        assert len(portal.accepted) == 2
        assert (await http.delete("/_fake/received")).status_code == 204
        assert (await http.get("/_fake/received")).json() == []


async def test_the_fake_refuses_what_the_portal_refuses() -> None:
    """A second create of a record it holds ("đã tồn tại"), and records whose codes or times are malformed."""
    portal = FakePortal()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.app), base_url="http://fake") as http:
        async def code_of(**record: object) -> str:
            body = {"service": "DongBoHoSoMC", "isUpdating": False, "data": [{"TrangThaiHoSo": "1", **record}]}
            return str((await http.post(SYNC_PATH, json=body)).json()["error_code"])

        assert await code_of(MaHoSo="A-1", KenhThucHien="2", NgayHenTra="", NgayTiepNhan="20260105083000") == "0"
        assert await code_of(MaHoSo="A-1") == "3"  # held already: a create is refused
        assert await code_of(MaHoSo="A-2", TrangThaiHoSo="11") == "99"
        assert await code_of(MaHoSo="A-2", TrangThaiHoSo=4) == "99"  # codes are strings
        assert await code_of(MaHoSo="A-2", KenhThucHien=1) == "99"
        assert await code_of(MaHoSo="A-2", KenhThucHien="4") == "99"
        assert await code_of(MaHoSo="A-2", NgayHenTra="2026-01-05T08:30:00") == "99"
        assert await code_of(MaHoSo="A-2", NgayTiepNhan="２０２６０１０５０８３０００") == "99"  # not ASCII digits
        assert await code_of(MaHoSo="") == "99"
    assert [item["MaHoSo"] for item in portal.accepted] == ["A-1"] and portal.holds("A-2") is False


def test_the_worker_runs_both_consumers() -> None:
    from app.core.worker import load_domain_tasks, registered_tasks

    load_domain_tasks()
    assert {"integration.national_portal", "integration.webhooks"} <= set(registered_tasks())

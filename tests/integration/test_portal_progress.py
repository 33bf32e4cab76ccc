"""The processing history for the national portal (`CapNhatTienDoHoSoMC`): one item per history entry, sent once,
only for a record the portal holds, through the fake portal; and a batch whose cost does not grow with what each
dossier holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from app.core.clock import LOCAL_TZ
from app.integration.portal_progress import PROGRESS_CONSUMER
from tests.integration.conftest import PortalKit, deliveries, make_due, receive
from tests.integration.test_portal_record import _returned
from tests.support.identity_fixtures import DEFAULT_AGENCY
from tests.workflow.test_lists_paged import _statements

ITEM = {"MaHoSo": "H01-1", "NguoiXuLy": "Cán bộ", "ChucDanh": "", "ThoiDiemXuLy": "20250303080000",
        "PhongBanXuLy": "", "NoiDungXuLy": "Tiếp nhận hồ sơ", "TrangThai": "2", "NgayBatDau": "",
        "NgayKetThucTheoQuyDinh": ""}


def _local(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LOCAL_TZ).strftime("%Y%m%d%H%M%S")


async def test_the_processing_history_reaches_the_portal_one_item_per_entry(  # type: ignore[no-untyped-def]
        flow, portal: PortalKit, monkeypatch: pytest.MonkeyPatch) -> None:
    case = await _returned(flow, monkeypatch)
    did, code = case["dossier"]["id"], case["dossier"]["code"]
    await portal.run()
    stats = await portal.run_progress()
    assert stats.failed == 0
    history = await flow.history(flow.reception, did)
    items = portal.fake.progress
    assert [i["NoiDungXuLy"].split(":")[0] for i in items] == [
        "Nộp hồ sơ", "Tiếp nhận hồ sơ", "Phân công xử lý", "Yêu cầu bổ sung hồ sơ", "Bổ sung hồ sơ",
        "Thẩm định hồ sơ", "Phê duyệt", "Ban hành kết quả", "Trả kết quả"]
    assert [(i["TrangThai"], i["ThoiDiemXuLy"]) for i in items] == [
        (str(h["to_code"]), _local(h["at"])) for h in history]
    assert [i["NguoiXuLy"] for i in items] == [
        "Trần Văn Đức", "Lê Thị Tiếp Nhận", "Lê Thị Tiếp Nhận", "Phạm Văn Thẩm Định", "Trần Văn Đức",
        "Phạm Văn Thẩm Định", "Nguyễn Văn Duyệt", "Nguyễn Văn Duyệt", "Lê Thị Tiếp Nhận"]
    assert {i["MaHoSo"] for i in items} == {code} and {i["ChucDanh"] + i["PhongBanXuLy"] for i in items} == {""}
    by_text = {i["NoiDungXuLy"].split(":")[0]: i for i in items}
    # A step's start and its allowed end: appraisal has an allowance, approval none; the submission ends no step.
    assert by_text["Thẩm định hồ sơ"]["NgayBatDau"] and by_text["Thẩm định hồ sơ"]["NgayKetThucTheoQuyDinh"]
    assert by_text["Phê duyệt"]["NgayBatDau"] and by_text["Phê duyệt"]["NgayKetThucTheoQuyDinh"] == ""
    assert by_text["Tiếp nhận hồ sơ"]["NgayBatDau"] == "20250303080000"  # reception began with the submission
    assert (by_text["Nộp hồ sơ"]["NgayBatDau"], by_text["Nộp hồ sơ"]["NgayKetThucTheoQuyDinh"]) == ("", "")
    assert by_text["Yêu cầu bổ sung hồ sơ"]["NoiDungXuLy"] == "Yêu cầu bổ sung hồ sơ"  # no reason given


async def test_progress_waits_for_the_record_and_each_entry_is_sent_once(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit, monkeypatch: pytest.MonkeyPatch) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    dossier = await dossiers.submitted(client, await accounts.citizen(), await dossiers.procedure())
    assert (await portal.run_progress()).failed == 1  # the portal holds no record of it yet
    assert portal.fake.progress == []
    await portal.run()
    await make_due(PROGRESS_CONSUMER)
    await portal.run_progress()
    assert [i["TrangThai"] for i in portal.fake.progress] == ["1"]

    await receive(client, reception, dossier["id"])
    await portal.run()
    await portal.run_progress()
    assert [i["TrangThai"] for i in portal.fake.progress] == ["1", "2"]  # the submission is not sent again

    # A delivery that goes dead: its entry goes with the next one.
    monkeypatch.setattr(portal.progress, "retry_delays", lambda: [])
    read = await client.get(f"/v1/dossiers/{dossier['id']}", headers=reception.headers)
    official = await accounts.official(DEFAULT_AGENCY, ["processing"])
    await client.post(f"/v1/dossiers/{dossier['id']}/transitions", json={"action": "assign",
                      "assignee": str(official.id)}, headers={**reception.headers, "If-Match": read.headers["etag"]})
    await portal.run()
    portal.fake.fail_next(1, mode="reject")
    assert (await portal.run_progress()).dead == 1
    admin = await accounts.admin()
    assert (await client.post(f"/v1/integration/sync/{dossier['id']}/replay",
                              headers=admin.headers)).status_code == 202
    await portal.run()
    await portal.run_progress()
    assert [i["TrangThai"] for i in portal.fake.progress] == ["1", "2", "4"]
    assert [d.state for d in await deliveries(PROGRESS_CONSUMER)] == ["delivered", "delivered", "dead", "delivered"]

    await client.post(f"/v1/integration/sync/{dossier['id']}/replay", headers=admin.headers)
    calls = len(portal.fake.received)
    await portal.run_progress()  # nothing new: no call
    assert len(portal.fake.received) == calls and len(portal.fake.progress) == 3


@pytest.mark.parametrize(("change", "reason"), [
    ({"MaHoSo": "H01-2"}, "Hồ sơ chưa được đồng bộ"),
    ({"ThoiDiemXuLy": ""}, "ThoiDiemXuLy không đúng định dạng yyyyMMddHHmmss"),
    ({"NgayBatDau": "2025-03-03"}, "NgayBatDau không đúng định dạng yyyyMMddHHmmss"),
    ({"TrangThai": "11"}, "TrangThai không hợp lệ"),
    ({"ChucDanh": None}, "Thiếu thông tin tiến độ"),
    ({}, None),
], ids=["not_held", "no_time", "bad_start", "bad_state", "missing_field", "accepted"])
async def test_the_fake_portal_takes_progress_as_the_sources_shape_it(  # type: ignore[no-untyped-def]
        portal: PortalKit, change: dict[str, Any], reason: str | None) -> None:
    portal.fake.client_id = None
    portal.fake.held.add("H01-1")
    item = {key: value for key, value in {**ITEM, **change}.items() if value is not None}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.fake.app), base_url="http://p") as http:
        answer = (await http.post("/api/hoso/dongbohosomc",
                                  json={"service": "CapNhatTienDoHoSoMC", "madonvi": "X", "data": [item]})).json()
    assert answer == ({"error_code": "0", "message": "Thành công"} if reason is None
                      else {"error_code": "99", "message": reason})
    assert portal.fake.progress == ([item] if reason is None else [])
    assert portal.fake.accepted == []  # progress is no dossier record


async def _batch(client: Any, accounts: Any, dossiers: Any, portal: PortalKit, extra_files: int) -> int:
    """Statements of the worker passes sending two submissions (records and progress), each with `extra_files`
    files beyond the required one."""
    code = await dossiers.procedure()
    for _ in range(2):
        citizen = await accounts.citizen()
        draft = await dossiers.draft(client, citizen, code)
        for n in range(1 + extra_files):
            part = "application_form" if n == 0 else "id_copy"
            assert (await dossiers.upload(client, citizen, draft["id"], part, file_name=f"f{n}.pdf")).status_code == 201
        assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    portal.fake.reset()
    with _statements() as seen:
        await portal.run()
        await portal.run_progress()
    assert len(portal.fake.accepted) == 2 and len(portal.fake.progress) == 2
    assert {len(r["TaiLieuNop"]) for r in portal.fake.accepted} == {1 + extra_files}
    return len(seen)


async def test_a_batch_costs_the_same_statements_however_many_files_each_dossier_holds(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit) -> None:
    few = await _batch(client, accounts, dossiers, portal, 0)
    many = await _batch(client, accounts, dossiers, portal, 3)
    assert few == many

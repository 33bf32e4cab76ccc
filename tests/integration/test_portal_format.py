"""The `DongBoHoSoMC` record as the sources on the national portal describe it (docs/national-portal.md): the
portal's own codes, every value a string, times in yyyyMMddHHmmss local time or "", and a create the portal refuses
because it holds the record already ("đã tồn tại") sent again as an update."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.core.delivery import run_consumer
from app.integration.portal import CONSUMER, NationalPortal, NationalPortalConsumer, PortalUpdate, portal_message
from tests.integration.conftest import PortalKit, deliveries, receive, submitted_dossier
from tests.support.identity_fixtures import DEFAULT_AGENCY

AT = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)  # 08:30 in Hà Nội


def _update(**overrides: Any) -> PortalUpdate:
    values: dict[str, Any] = {
        "dossier_id": uuid.uuid4(), "dossier_code": "000.00.12.H01-260105-0001", "national_dossier_id": None,
        "procedure_code": "1.001234.000.00.00.H01", "agency_code": "000.00.12.H01", "status_code": 4, "at": AT,
        "channel": "online", "is_update": True, "procedure_name": "Cấp giấy phép", "agency_name": "Sở KH&CN"}
    return PortalUpdate(**{**values, **overrides})


def _record(**overrides: Any) -> dict[str, Any]:
    return dict(portal_message(_update(**overrides))["data"][0])


@pytest.mark.parametrize(("channel", "code"), [("desk", "1"), ("online", "2"), ("post", "3")])
def test_the_channel_is_the_portals_code(channel: str, code: str) -> None:
    assert _record(channel=channel)["KenhThucHien"] == code


@pytest.mark.parametrize(("kind", "code"), [("citizen", "1"), ("organisation", "2")])
def test_the_applicant_kind_is_the_portals_code(kind: str, code: str) -> None:
    assert _record(applicant_kind=kind)["LoaiDoiTuong"] == code


def test_times_are_local_and_unknown_ones_empty() -> None:
    record = _record(received_at=AT, due_at=datetime(2026, 1, 12, 10, 0, tzinfo=UTC))
    assert (record["NgayTiepNhan"], record["NgayHenTra"], record["NgayCapNhat"]) == (
        "20260105083000", "20260112170000", "20260105083000")
    assert record["NgayKetThucXuLy"] == "" and _record()["NgayTiepNhan"] == ""


def test_a_new_dossier_has_no_reception_date_and_a_processed_one_its_end() -> None:
    assert _record(status_code=1, received_at=AT)["NgayTiepNhan"] == ""  # "Mới đăng ký": not received yet
    assert _record(status_code=4, finished_at=AT)["NgayKetThucXuLy"] == ""
    assert _record(status_code=9, finished_at=AT)["NgayKetThucXuLy"] == "20260105083000"
    assert _record(status_code=10, finished_at=AT)["NgayKetThucXuLy"] == "20260105083000"


def test_the_result_sent_by_post_is_hinh_thuc_1() -> None:
    assert (_record(delivery_method="post")["HinhThuc"], _record(delivery_method="desk")["HinhThuc"]) == ("1", "0")


async def test_reception_sends_its_date_and_the_due_date(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                         portal: PortalKit) -> None:
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    dossier = await submitted_dossier(client, accounts, dossiers)
    received = await receive(client, reception, dossier["id"])
    await portal.run()
    _, record = portal.fake.accepted

    def local(value: str) -> str:
        return portal_message(_update(at=datetime.fromisoformat(value.replace("Z", "+00:00"))))["data"][0][
            "NgayCapNhat"]

    assert record["TrangThaiHoSo"] == "2"
    assert (record["NgayTiepNhan"], record["NgayHenTra"]) == (local(received["received_at"]),
                                                              local(received["due_at"]))


async def test_a_create_of_a_record_the_portal_holds_is_sent_again_as_an_update(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit) -> None:
    # The portal took the submission but its answer was lost: it holds the record, we never heard it did.
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.held.add(dossier["code"])
    stats = await portal.run()
    assert (stats.delivered, stats.failed) == (1, 0)
    assert [(r.body["isUpdating"], r.body.get("_accepted", False)) for r in portal.fake.received] == [
        (False, False), (True, True)]
    [delivery] = await deliveries(CONSUMER)
    assert delivery.state == "delivered"


async def test_an_update_refused_is_not_sent_again(client, accounts, dossiers,  # type: ignore[no-untyped-def]
                                                   portal: PortalKit) -> None:
    dossier = await submitted_dossier(client, accounts, dossiers)
    portal.fake.held.add(dossier["code"])
    portal.fake.fail_next(1, mode="reject")  # a refusal that is not "already held": no second call
    stats = await portal.run()
    assert stats.failed == 1 and len(portal.fake.received) == 1


@pytest.mark.parametrize(("body", "delivered", "error"), [
    ('{"error_code": "00", "message": "Thành công"}', True, None),
    ('{"error_code": 0}', True, None),
    ('[{"error_code": "0"}]', False, "PortalError: HTTP 200 with a body that is not a JSON object"),
    ('{"error_code": "-1", "message": "Lỗi"}', False, "PortalError: refused: error_code=-1 Lỗi"),
], ids=["00", "integer_0", "a_list", "minus_1"])
async def test_what_counts_as_accepted(client, accounts, dossiers, body: str, delivered: bool,  # type: ignore[no-untyped-def]
                                       error: str | None) -> None:
    adapter = NationalPortal("http://portal.test", timeout_s=2.0,
                             transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body.encode())))
    await submitted_dossier(client, accounts, dossiers)
    stats = await run_consumer(NationalPortalConsumer(adapter, enabled=True))
    assert (stats.delivered, stats.failed) == ((1, 0) if delivered else (0, 1))
    [delivery] = await deliveries(CONSUMER)
    assert delivery.last_error == error

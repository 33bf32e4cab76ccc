"""The `DongBoHoSoMC` record's fields beyond the dossier row (docs/national-portal.md): field of the procedure,
summary, submission, applicant's identifier, documents, supplements, results, fees, refusal and hand-over times;
with real dossiers driven through the workflow over HTTP, and empty values where there is nothing to tell."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fees.conftest import Fees, fees  # noqa: F401  (the fixture)
from tests.integration.conftest import PortalKit
from tests.reporting.conftest import finish
from tests.workflow.test_supplement_and_endings import set_clock

LISTS = ("TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua")


def _by_code(portal: PortalKit) -> dict[str, dict[str, Any]]:
    """The last record the portal accepted in each status code."""
    return {record["TrangThaiHoSo"]: record for record in portal.fake.accepted}


async def _returned(flow: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Submitted 3 March 08:00, received and assigned 09:00, a supplement asked 10:00 and handed in 4 March 10:00,
    the result issued 11:00 and handed over 5 March 09:00."""
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5, step_time_limits=[{"step": "appraise", "working_days": 1}])
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    await flow.to_processing(did)
    set_clock(monkeypatch, 2025, 3, 3, 10, 0)
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép", "Ảnh chân dung"])
    supplied = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 4, 10, 0)
    await flow.act(citizen, did, "supplement", attachments=[supplied])
    set_clock(monkeypatch, 2025, 3, 4, 11, 0)
    await finish(flow, did)
    set_clock(monkeypatch, 2025, 3, 5, 9, 0)
    await flow.act(flow.reception, did, "return_result", delivery={"method": "desk"})
    attachments = (await flow.client.get(f"/v1/dossiers/{did}/attachments", headers=flow.reception.headers)).json()
    return {"dossier": dossier, "citizen": citizen, "supplied": supplied,
            "files": {a["file_name"]: a for a in attachments.get("items", attachments)}}


async def test_a_returned_dossier_tells_the_portal_its_whole_story(  # type: ignore[no-untyped-def]
        flow, portal: PortalKit, monkeypatch: pytest.MonkeyPatch) -> None:
    case = await _returned(flow, monkeypatch)
    dossier, files = case["dossier"], case["files"]
    await portal.run()
    records = _by_code(portal)
    returned = records["10"]

    assert returned["MaLinhVuc"].startswith("field-") and returned["TenLinhVuc"] == "Tiêu chuẩn đo lường"
    assert returned["TrichYeuHoSo"] == f"{dossier['procedure_name']} - Trần Văn Đức"
    assert (returned["NgayNopHoSo"], returned["NgayTra"], returned["NgayTuChoi"]) == (
        "20250303080000", "20250305090000", "")
    assert returned["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": case["citizen"].citizen_id}]
    assert returned["NoiNopHoSo"] == "2"
    assert returned["TaiKhoanDuocXacThucVoiVNeID"] == "0"  # no VNeID issuer configured (DVC_VNEID_ISSUERS)

    # The documents filed and the supplement handed in; the result file is not one of them.
    filed = returned["TaiLieuNop"]
    assert [(d["TenTepDinhKem"], d["MaThanhPhanHoSo"]) for d in filed] == [
        ("don.pdf", "application_form"), ("bo-sung.pdf", "id_copy")]
    assert [d["TepDinhKemId"] for d in filed] == [files["don.pdf"]["id"], case["supplied"]]
    assert all(d["DuongDanTaiTepTin"] == "" and d["IsDeleted"] == "0" and d["DuocSoHoa"] == "1" for d in filed)
    assert returned["HoSoCoThanhPhanSoHoa"] == "1"

    [result] = returned["DanhSachGiayToKetQua"]
    assert (result["TenGiayTo"], result["GiayToId"], result["DuongDanTepTinKetQua"]) == (
        "ket-qua.pdf", files["ket-qua.pdf"]["id"], "")

    [asked] = returned["DanhSachHoSoBoSung"]
    assert asked["NoiDungBoSung"] == "Bản sao giấy phép; Ảnh chân dung"
    assert (asked["NguoiYeuCauBoSung"], asked["NgayBoSung"], asked["NgayTiepNhanBoSung"]) == (
        "Phạm Văn Thẩm Định", "20250303100000", "20250304100000")
    assert asked["TrangThaiBoSung"] == "1" and asked["NguoiTiepNhanBoSung"] == ""  # handed in online
    assert [d["TepDinhKemId"] for d in asked["DanhSachGiayToBoSung"]] == [case["supplied"]]
    assert asked["NgayHenTraTruoc"] and asked["NgayHenTraMoi"] > asked["NgayHenTraTruoc"]  # the wait moved it

    assert (returned["DanhSachLePhi"], returned["DuocThanhToanTrucTuyen"]) == ([], "0")

    # Each record tells what was so when its change happened: no hand-over before code 10, the request pending.
    assert records["9"]["NgayTra"] == "" and records["9"]["DanhSachGiayToKetQua"] == returned["DanhSachGiayToKetQua"]
    assert records["5"]["DanhSachHoSoBoSung"][0]["TrangThaiBoSung"] == "0"
    assert records["5"]["DanhSachHoSoBoSung"][0]["NgayTiepNhanBoSung"] == ""
    assert records["1"]["DanhSachGiayToKetQua"] == [] and records["1"]["DanhSachHoSoBoSung"] == []


async def test_a_new_dossier_sends_its_lists_empty_and_its_unknown_times_blank(  # type: ignore[no-untyped-def]
        flow, portal: PortalKit) -> None:
    code = await flow.procedure()
    _, dossier = await flow.submitted(code)
    await portal.run()
    [record] = portal.fake.accepted
    assert [record[name] for name in LISTS[1:]] == [[], [], []]
    assert [d["MaThanhPhanHoSo"] for d in record["TaiLieuNop"]] == ["application_form"]
    assert (record["NgayTra"], record["NgayTuChoi"], record["DuocThanhToanTrucTuyen"]) == ("", "", "0")
    assert record["NgayNopHoSo"] != "" and record["TrichYeuHoSo"].startswith(dossier["procedure_name"])


async def test_a_refusal_sends_its_time(flow, portal: PortalKit,  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    _, dossier = await flow.submitted(await flow.procedure())
    set_clock(monkeypatch, 2025, 3, 3, 14, 30)
    await flow.act(flow.reception, dossier["id"], "reject", reason="Hồ sơ không thuộc thẩm quyền")
    await portal.run()
    records = _by_code(portal)
    assert (records["1"]["NgayTuChoi"], records["3"]["NgayTuChoi"]) == ("", "20250303143000")
    assert records["3"]["NgayTra"] == ""


async def test_an_organisation_has_no_identifier_type_to_send(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, portal: PortalKit) -> None:
    organisation = await accounts.organisation()
    await dossiers.submitted(client, organisation, await dossiers.procedure())
    await portal.run()
    [record] = portal.fake.accepted
    assert record["LoaiDoiTuong"] == "2" and record["DinhDanhCHS"] == []


async def test_fees_paid_online_are_listed_with_their_kind(  # type: ignore[no-untyped-def]
        client, fees: Fees, portal: PortalKit) -> None:  # noqa: F811
    case = await fees.case(client)
    await fees.request_payment(client, case)
    await portal.run()
    assert _by_code(portal)["6"]["DanhSachLePhi"] == []  # asked for, not paid yet
    attempt = await fees.pay(client, case)
    for callback in fees.bank.complete(attempt["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    await portal.run()
    received = _by_code(portal)["2"]
    assert received["DanhSachLePhi"] == [
        {"TenPhiLePhi": "Lệ phí cấp giấy chứng nhận", "MaPhiLePhi": "0", "HinhThucThu": "1", "Gia": "150000",
         "LoaiPhiLePhi": "1"},
        {"TenPhiLePhi": "Phí thẩm định", "MaPhiLePhi": "1", "HinhThucThu": "1", "Gia": "350000",
         "LoaiPhiLePhi": "2"}]
    assert received["DuocThanhToanTrucTuyen"] == "1"


async def test_a_record_sent_late_lists_the_fees_as_they_were_at_its_event(  # type: ignore[no-untyped-def]
        client, fees: Fees, portal: PortalKit) -> None:  # noqa: F811
    """The portal was not reached between the request for fees (code 6) and their payment (code 2): the code-6
    record, sent after the payment, still lists nothing paid; the code-2 record lists both lines."""
    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    for callback in fees.bank.complete(attempt["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    await portal.run()
    records = _by_code(portal)
    assert (records["6"]["DanhSachLePhi"], records["6"]["DuocThanhToanTrucTuyen"]) == ([], "0")
    assert [line["Gia"] for line in records["2"]["DanhSachLePhi"]] == ["150000", "350000"]
    assert records["2"]["DuocThanhToanTrucTuyen"] == "1"

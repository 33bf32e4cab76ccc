"""Form 06 as CSV: `GET /v1/dossiers` with `Accept: text/csv` is the dossier register (sổ theo dõi hồ sơ): the whole
filtered list, seen exactly as the JSON list, streamed page after page."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.core import clock
from app.core.db import get_database
from app.dossiers import register
from app.dossiers.models import Dossier
from tests.support.dossier_fixtures import OPTIONAL_PARTS

AGENCY = "000.00.12.H01"
OTHER_AGENCY = "000.00.55.H01"
CSV = {"Accept": "text/csv"}
HEADER = ["Mã hồ sơ", "Mã thủ tục", "Tên thủ tục", "Cơ quan giải quyết", "Người nộp hồ sơ", "Kênh nộp", "Ngày nộp",
          "Ngày tiếp nhận", "Hạn trả kết quả", "Hạn trả ban đầu", "Ngày có kết quả", "Trạng thái",
          "Mã trạng thái quốc gia", "Tiến độ"]


async def _set(dossier_id: str, **values) -> None:
    async with get_database().write_sessions() as session, session.begin():
        await session.execute(update(Dossier).where(Dossier.id == uuid.UUID(dossier_id)).values(
            version=Dossier.version + 1, **values))


async def _register(client, headers: dict[str, str], query: str = "") -> list[dict[str, str]]:
    response = await client.get(f"/v1/dossiers{query}", headers={**headers, **CSV})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8" and response.headers["vary"] == "Accept"
    assert response.headers["content-disposition"].startswith('attachment; filename="so-theo-doi-ho-so-')
    assert not response.content.startswith(b"\xef\xbb\xbf")  # no byte-order mark unless asked
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert lines[0] == HEADER
    return [dict(zip(HEADER, line, strict=True)) for line in lines[1:]]


async def test_the_register_is_the_whole_filtered_list_read_page_after_page(client, accounts, dossiers, monkeypatch):
    monkeypatch.setattr(register, "REGISTER_PAGE", 2)  # 7 dossiers: four pages read for one download
    start = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)  # 09:00 local
    monkeypatch.setattr(clock, "now", lambda: start - timedelta(days=1))
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS, name="Cấp giấy chứng nhận")
    other_code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen(name="Trần Thị Bình")
    submitted = []
    for i in range(7):
        monkeypatch.setattr(clock, "now", lambda i=i: start + timedelta(days=i // 3, minutes=i))
        submitted.append(await dossiers.submitted(client, citizen, other_code if i == 6 else code))
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=10))
    await dossiers.draft(client, citizen, code)  # drafts never reach officials
    received, due = start + timedelta(hours=1), start + timedelta(days=7)
    # finished a day early, finished late, open and overdue, open in time; the rest never received
    for index, finished in ((0, due - timedelta(days=1)), (1, due + timedelta(hours=1))):
        await _set(submitted[index]["id"], state="processed", national_status_code=9, received_at=received,
                   due_at=due, finished_at=finished)
    await _set(submitted[2]["id"], state="processing", national_status_code=4, received_at=received, due_at=due)
    await _set(submitted[3]["id"], state="processing", national_status_code=4, received_at=received,
               due_at=start + timedelta(days=20))
    await _set(submitted[4]["id"], applicant_name="=HYPERLINK(\"http://x\")")
    clerk = await accounts.official(AGENCY, ["reception"])

    rows = await _register(client, clerk.headers, "?limit=1")  # the whole list: `limit` pages only the JSON
    assert [r["Mã hồ sơ"] for r in rows] == [d["code"] for d in reversed(submitted)]
    by_code = {r["Mã hồ sơ"]: r for r in rows}
    early, late, overdue, in_time, waiting = (by_code[submitted[i]["code"]] for i in (0, 1, 2, 3, 5))
    assert early == {**early, "Mã thủ tục": code, "Tên thủ tục": "Cấp giấy chứng nhận", "Cơ quan giải quyết": AGENCY,
                     "Người nộp hồ sơ": "Trần Thị Bình", "Kênh nộp": "online", "Trạng thái": "processed",
                     "Mã trạng thái quốc gia": "9", "Tiến độ": "Trước hạn",
                     "Ngày tiếp nhận": "2024-03-04T10:00:00+07:00", "Hạn trả kết quả": "2024-03-11T09:00:00+07:00",
                     "Ngày có kết quả": "2024-03-10T09:00:00+07:00"}
    assert early["Ngày nộp"] == "2024-03-04T09:00:00+07:00"
    assert (late["Tiến độ"], overdue["Tiến độ"], in_time["Tiến độ"], waiting["Tiến độ"]) == (
        "Quá hạn", "Quá hạn", "Trong hạn", "")
    assert (waiting["Ngày tiếp nhận"], waiting["Hạn trả kết quả"], waiting["Trạng thái"]) == ("", "", "submitted")
    # a name a spreadsheet would run as a formula is kept as text
    assert by_code[submitted[4]["code"]]["Người nộp hồ sơ"] == "'=HYPERLINK(\"http://x\")"

    # the JSON list's filters, the same rows as its pages
    assert [r["Mã hồ sơ"] for r in await _register(client, clerk.headers, "?overdue=true")] == [submitted[2]["code"]]
    assert [r["Mã hồ sơ"] for r in await _register(client, clerk.headers, f"?procedure={other_code}")] == [
        submitted[6]["code"]]
    by_state = await _register(client, clerk.headers, "?state=submitted")
    assert {r["Mã hồ sơ"] for r in by_state} == {d["code"] for d in submitted[4:]}
    by_day = await _register(client, clerk.headers, "?submitted_from=2024-03-05&submitted_to=2024-03-05")
    assert [r["Mã hồ sơ"] for r in by_day] == [d["code"] for d in reversed(submitted[3:6])]
    assert await _register(client, clerk.headers, "?channel=desk") == []
    bad = await client.get("/v1/dossiers?state=nonsense", headers={**clerk.headers, **CSV})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


async def test_the_register_shows_nobody_more_than_their_json_list(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    foreign = await dossiers.procedure(OTHER_AGENCY, parts=OPTIONAL_PARTS)
    alice, bob, carol = await accounts.citizen(), await accounts.citizen(), await accounts.citizen()
    a1 = await dossiers.submitted(client, alice, code)
    b1 = await dossiers.submitted(client, bob, foreign)
    here, there = await accounts.official(AGENCY, ["reception"]), await accounts.official(OTHER_AGENCY, ["reception"])

    assert [r["Mã hồ sơ"] for r in await _register(client, here.headers)] == [a1["code"]]
    assert [r["Mã hồ sơ"] for r in await _register(client, there.headers)] == [b1["code"]]
    # the agency filter widens nothing
    assert await _register(client, here.headers, f"?agency={OTHER_AGENCY}") == []
    assert [r["Mã hồ sơ"] for r in await _register(client, alice.headers)] == [a1["code"]]
    assert await _register(client, carol.headers) == []
    assert await _register(client, (await accounts.client(["catalogue:write"], [AGENCY])).headers) == []
    reader = await accounts.client(["dossiers:read"], [AGENCY])
    assert [r["Mã hồ sơ"] for r in await _register(client, reader.headers)] == [a1["code"]]
    admin = await accounts.admin()
    assert {r["Mã hồ sơ"] for r in await _register(client, admin.headers)} >= {a1["code"], b1["code"]}
    anonymous = await client.get("/v1/dossiers", headers=CSV)
    assert anonymous.status_code == 401


async def test_bom_on_request_and_other_types_refused(client, accounts, dossiers):
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen(name="Đặng Văn Ơn")
    dossier = await dossiers.submitted(client, citizen, code)
    clerk = await accounts.official(AGENCY, ["reception"])

    with_bom = await client.get("/v1/dossiers?bom=true", headers={**clerk.headers, **CSV})
    assert with_bom.status_code == 200 and with_bom.content.startswith(b"\xef\xbb\xbf")
    text = with_bom.content.decode("utf-8-sig")
    assert text.startswith("Mã hồ sơ,") and "Đặng Văn Ơn" in text and dossier["code"] in text
    as_json = await client.get("/v1/dossiers?bom=true", headers=clerk.headers)  # ignored for JSON
    assert as_json.status_code == 200 and as_json.json()["items"][0]["id"] == dossier["id"]
    assert as_json.headers["vary"] == "Accept"
    refused = await client.get("/v1/dossiers", headers={**clerk.headers, "Accept": "application/pdf"})
    assert refused.status_code == 406 and refused.json()["code"] == "not_acceptable"
    assert refused.json()["extra"]["available"] == ["application/json", "text/csv"]
    preferred = await client.get("/v1/dossiers",
                                 headers={**clerk.headers, "Accept": "text/csv, application/json;q=0.5"})
    assert preferred.headers["content-type"].startswith("text/csv")
    browser = await client.get("/v1/dossiers", headers={**clerk.headers, "Accept": "*/*"})
    assert browser.headers["content-type"] == "application/json"

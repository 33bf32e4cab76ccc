"""The history is append-only (database triggers) and tamper-evident (hash chain); concurrent transitions
on one dossier apply exactly once (both databases)."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.core.db import get_database
from app.workflow.models import HistoryEntry
from tests.support.workflow_fixtures import behind_the_history_triggers, outbox_events


async def _history_dossier(flow) -> tuple[object, str]:  # type: ignore[no-untyped-def]
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    await flow.act(flow.processing, dossier["id"], "appraise")
    return citizen, dossier["id"]


@pytest.mark.parametrize("statement", ["UPDATE dossier_history SET reason = 'sửa' WHERE dossier_id = :id",
                                       "DELETE FROM dossier_history WHERE dossier_id = :id"])
async def test_the_database_refuses_update_and_delete(flow, statement):
    _, did = await _history_dossier(flow)
    with pytest.raises(DBAPIError, match="append-only"):
        async with get_database().write_engine.begin() as connection:
            await connection.execute(text(statement), {"id": _db_uuid(connection, did)})


def _db_uuid(connection, did: str) -> object:  # type: ignore[no-untyped-def]
    # SQLAlchemy's Uuid stores 32 hex digits on SQLite and a native uuid on PostgreSQL.
    return uuid.UUID(did).hex if connection.dialect.name == "sqlite" else uuid.UUID(did)


async def test_tampering_behind_the_triggers_is_detected(client, flow):
    citizen, did = await _history_dossier(flow)
    ok = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert ok.json() == {"valid": True, "entries": 4, "first_broken_seq": None}
    await behind_the_history_triggers(
        did, "UPDATE dossier_history SET reason = 'không có gì' WHERE dossier_id = :id AND seq = 3")
    broken = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert broken.json() == {"valid": False, "entries": 4, "first_broken_seq": 3}
    entries = await flow.history(citizen, did)
    assert entries[2]["reason"] == "không có gì"  # the forged value is shown, and the check exposes it


async def test_fifty_concurrent_conflicting_transitions_apply_once(client, flow):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    current = await flow.to_processing(did)
    etag = f'"{current["version"]}"'
    url = f"/v1/dossiers/{did}/transitions"
    attempts = []
    for i in range(50):
        actor, action = (citizen, "withdraw") if i % 2 else (flow.processing, "appraise")
        attempts.append(client.post(url, json={"action": action}, headers={**actor.headers, "If-Match": etag}))
    responses = await asyncio.gather(*attempts)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}, [r.text for r in responses if r.status_code not in (200, 409, 412)]
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["version"] == current["version"] + 1
    async with get_database().read_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(HistoryEntry)
                                     .where(HistoryEntry.dossier_id == uuid.UUID(did)))
    assert count == 4  # submit, receive, assign + the one winner
    assert len(await outbox_events(did)) == 3
    assert (await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)).json()["valid"]


async def test_notices_json_pdf_and_visibility(client, flow, accounts):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "request_supplement",
                   items=["Bản sao Giấy chứng nhận đăng ký doanh nghiệp", "Sơ đồ mặt bằng"])
    (notice,) = await flow.notices(citizen, did)
    one = await client.get(f"/v1/dossiers/{did}/notices/{notice['id']}", headers=citizen.headers)
    assert one.status_code == 200 and one.json() == notice
    assert notice["content"]["procedure_name"] == dossier["procedure_name"]
    assert notice["content"]["issued_by"] == "Lê Thị Tiếp Nhận"
    pdf = await client.get(f"/v1/dossiers/{did}/notices/{notice['id']}",
                           headers={**flow.reception.headers, "Accept": "application/pdf"})
    text_ = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in text_ and "Mẫu số 02" in text_
    assert "1. Bản sao Giấy chứng nhận đăng ký doanh nghiệp" in text_ and "2. Sơ đồ mặt bằng" in text_
    # "Anything but PDF" is JSON (a substring test served the PDF); a client taking neither form gets 406.
    not_pdf = await client.get(f"/v1/dossiers/{did}/notices/{notice['id']}",
                               headers={**citizen.headers, "Accept": "application/pdf;q=0, */*"})
    assert not_pdf.status_code == 200 and not_pdf.json() == notice
    image = await client.get(f"/v1/dossiers/{did}/notices/{notice['id']}",
                             headers={**citizen.headers, "Accept": "image/png"})
    assert image.status_code == 406 and image.json()["code"] == "not_acceptable"
    stranger = await accounts.citizen()
    assert (await client.get(f"/v1/dossiers/{did}/notices", headers=stranger.headers)).status_code == 404
    assert (await client.get(f"/v1/dossiers/{did}/notices/{uuid.uuid4()}", headers=citizen.headers)).status_code == 404
    assert (await client.get(f"/v1/dossiers/{did}/history", headers=stranger.headers)).status_code == 404


async def test_concurrent_transitions_with_any_etag_apply_one_after_another(client, flow):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    current = await flow.to_processing(did)
    headers = {**flow.processing.headers, "If-Match": "*"}  # "*": whatever the current version is
    responses = await asyncio.gather(*[client.post(f"/v1/dossiers/{did}/transitions", json={"action": "appraise"},
                                                   headers=headers) for _ in range(20)])
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    assert sorted(r.json()["version"] for r in responses) == list(range(current["version"] + 1,
                                                                       current["version"] + 21))
    verify = await client.get(f"/v1/dossiers/{did}/history/verify", headers=citizen.headers)
    assert verify.json() == {"valid": True, "entries": 23, "first_broken_seq": None}

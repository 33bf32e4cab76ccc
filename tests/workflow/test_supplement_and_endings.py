"""Supplement round trips (pause and restart), refusal, withdrawal and stop, with the clock fixed."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.core import clock
from app.core.clock import LOCAL_TZ
from app.core.pdf import render_document
from tests.support.identity_fixtures import DEFAULT_AGENCY


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[misc]


def set_clock(monkeypatch: pytest.MonkeyPatch, *args: int) -> None:
    moment = local(*args)
    monkeypatch.setattr(clock, "now", lambda: moment)


def at_local(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LOCAL_TZ)


async def test_supplement_pauses_the_clock_and_moves_the_due_date(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)  # before publishing: the version is in force from "now"
    code = await flow.procedure(processing_days=5, clock_on_supplement="pause")
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    received = await flow.act(flow.reception, did, "receive")
    assert at_local(received["due_at"]) == local(2025, 3, 10, 17, 0)
    await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))

    set_clock(monkeypatch, 2025, 3, 4, 10, 0)  # Tuesday
    empty = await flow.post(flow.processing, did, "request_supplement", items=[])
    assert empty.status_code == 422
    asked = await flow.act(flow.processing, did, "request_supplement", reason="Hồ sơ chưa đủ",
                           items=["Bản sao Căn cước công dân", "Ảnh chân dung 4x6"])
    assert (asked["state"], asked["national_status_code"]) == ("supplement_requested", 5)
    assert asked["overdue"] is False
    assert (await flow.get(citizen, did))["next_actions"] == ["supplement", "withdraw"]
    notice = (await flow.notices(citizen, did))[-1]
    assert notice["kind"] == "supplement_request" and notice["form"] == "02"
    assert notice["content"]["items"] == ["Bản sao Căn cước công dân", "Ảnh chân dung 4x6"]

    without_files = await flow.post(citizen, did, "supplement")
    assert without_files.status_code == 422
    document_id = (await client.get(f"/v1/dossiers/{did}/attachments", headers=citizen.headers)).json()["items"][0]
    wrong_kind = await flow.post(citizen, did, "supplement", attachments=[document_id["id"]])
    assert wrong_kind.status_code == 422 and wrong_kind.json()["errors"][0]["loc"] == ["body", "attachments"]
    file_id = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 6, 15, 0)  # Thursday: Wednesday and Thursday were spent waiting
    back = await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert (back["state"], back["national_status_code"]) == ("processing", 4)  # back where it was
    assert at_local(back["due_at"]) == local(2025, 3, 12, 17, 0)
    assert back["original_due_at"] == back["due_at"] and back["paused_working_days"] == 2
    entry = (await flow.history(citizen, did))[-1]
    assert entry["details"]["waited_working_days"] == 2 and entry["details"]["attachments"] == [file_id]


async def test_restart_rule_gives_a_new_due_date_and_receipt(client, flow, monkeypatch):
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5, clock_on_supplement="restart")
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "receive")
    set_clock(monkeypatch, 2025, 3, 4, 10, 0)
    await flow.act(flow.reception, did, "request_supplement", items=["Giấy phép kinh doanh"])
    file_id = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 6, 15, 0)
    back = await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert back["state"] == "received"
    assert at_local(back["received_at"]) == local(2025, 3, 6, 15, 0)
    assert at_local(back["due_at"]) == local(2025, 3, 13, 17, 0)  # five working days from Thursday
    assert back["paused_working_days"] == 0
    receipts = [n for n in await flow.notices(citizen, did) if n["kind"] == "receipt"]
    assert len(receipts) == 2 and receipts[1]["content"]["due_at"] == "2025-03-13T17:00:00+07:00"
    assert "bo-sung.pdf" in [d["file_name"] for d in receipts[1]["content"]["documents"]]


async def test_supplement_at_reception_returns_to_submitted(flow, monkeypatch):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "request_supplement", items=["Đơn có chữ ký"])
    file_id = await flow.upload_supplement(citizen, did)
    back = await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert (back["state"], back["national_status_code"], back["due_at"]) == ("submitted", 1, None)
    received = await flow.act(flow.reception, did, "receive")
    assert received["due_at"] is not None


async def test_refusal_lists_the_reasons_and_ends_the_dossier(flow):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    refused = await flow.act(flow.reception, did, "reject", reason="Không thuộc thẩm quyền giải quyết",
                             items=["Thủ tục do UBND cấp xã giải quyết"])
    assert (refused["state"], refused["national_status_code"]) == ("rejected", 3)
    assert refused["finished_at"] is not None and refused["next_actions"] == []
    notice = (await flow.notices(citizen, did))[-1]
    assert (notice["kind"], notice["form"]) == ("refusal", "03")
    assert notice["content"]["reasons"] == ["Không thuộc thẩm quyền giải quyết", "Thủ tục do UBND cấp xã giải quyết"]
    after = await flow.post(citizen, did, "withdraw")
    assert after.status_code == 409 and after.json()["extra"]["allowed_actions"] == []


async def test_withdrawal_by_the_applicant(flow, accounts):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    withdrawn = await flow.act(citizen, did, "withdraw", reason="Không còn nhu cầu")
    assert (withdrawn["state"], withdrawn["national_status_code"]) == ("withdrawn", 7)
    assert withdrawn["finished_at"] is not None
    assert (await flow.post(flow.processing, did, "appraise")).status_code == 409


async def test_representative_withdraws_for_the_organisation(client, flow, accounts, dossiers):
    code = await flow.procedure()
    organisation = await accounts.organisation()
    person = await accounts.citizen()
    await accounts.representative(organisation, person)
    acting = {"X-On-Behalf-Of": str(organisation.id)}
    draft = await dossiers.draft(client, person, code, headers=acting)
    await dossiers.upload(client, person, draft["id"], headers=acting)
    assert (await dossiers.submit(client, person, draft["id"], headers=acting)).status_code == 200
    read = await client.get(f"/v1/dossiers/{draft['id']}", headers={**person.headers, **acting})
    assert read.json()["next_actions"] == ["withdraw"]
    response = await client.post(f"/v1/dossiers/{draft['id']}/transitions", json={"action": "withdraw"},
                                 headers={**person.headers, **acting, "If-Match": read.headers["etag"]})
    assert response.status_code == 200 and response.json()["state"] == "withdrawn"


async def test_stop_needs_a_reason_and_issues_a_notice(flow):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    stopped = await flow.act(flow.approval, did, "stop", reason="Người nộp đã chết")
    assert (stopped["state"], stopped["national_status_code"]) == ("stopped", 8)
    assert [n["kind"] for n in await flow.notices(citizen, did)][-1] == "stop"


async def test_a_second_supplement_needs_files_sent_for_it(flow, monkeypatch):
    # The files of the first round were accepted as the answer to the second request (nothing new was sent).
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.act(flow.reception, did, "receive")
    await flow.act(flow.reception, did, "request_supplement", items=["Giấy phép kinh doanh"])
    first = await flow.upload_supplement(citizen, did)
    set_clock(monkeypatch, 2025, 3, 4, 9, 0)
    await flow.act(citizen, did, "supplement", attachments=[first])
    set_clock(monkeypatch, 2025, 3, 5, 9, 0)
    await flow.act(flow.reception, did, "request_supplement", items=["Bản đồ vị trí"])
    reused = await flow.post(citizen, did, "supplement", attachments=[first])
    assert reused.status_code == 422, reused.text
    assert "since the supplement was requested" in reused.json()["errors"][0]["msg"]
    second = await flow.upload_supplement(citizen, did)
    back = await flow.act(citizen, did, "supplement", attachments=[second])
    assert back["state"] == "received"


async def test_the_applicant_sees_result_files_only_once_the_result_is_issued(client, flow, accounts):
    # A result file uploaded during processing is a draft between officials (unsigned, not yet approved). The
    # agency's integrator (a portal connector) sees the files as the applicant does: it listed and downloaded the
    # draft, which it could pass on as the decision.
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    result_id = await flow.upload_result(did, b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")

    async def seen_by(actor):
        listed = await client.get(f"/v1/dossiers/{did}/attachments", headers=actor.headers)
        content = await client.get(f"/v1/dossiers/{did}/attachments/{result_id}/content", headers=actor.headers)
        return result_id in [a["id"] for a in listed.json()["items"]], content.status_code

    assert await seen_by(citizen) == (False, 404)
    assert await seen_by(integrator) == (False, 404)
    assert await seen_by(flow.processing) == (True, 200)
    await flow.act(flow.approval, did, "approve")
    await flow.act(flow.approval, did, "issue_result", attachments=[result_id])
    assert await seen_by(citizen) == (True, 200)
    assert await seen_by(integrator) == (True, 200)


async def test_a_result_upload_that_was_not_issued_stays_with_the_officials(client, flow, pki):
    """A draft refused as unsigned (or superseded) is not the result: after issue_result the applicant sees only the
    files it issued, in the list and by id; it listed every result upload of the dossier."""
    code = await flow.procedure(result={"name": "Giấy chứng nhận", "must_be_signed": True})
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.approval, did, "approve")
    draft_id = await flow.upload_result(did, render_document(issuer="Sở KH&CN", title="Bản nháp"))
    unsigned = await flow.post(flow.approval, did, "issue_result", attachments=[draft_id])
    assert unsigned.status_code == 422 and unsigned.json()["code"] == "result_not_signed"
    issued_id = await flow.upload_result(did, await pki.sign(render_document(issuer="Sở KH&CN",
                                                                             title="Giấy chứng nhận")))
    await flow.act(flow.approval, did, "issue_result", attachments=[issued_id])

    async def results_seen_by(actor):
        listed = await client.get(f"/v1/dossiers/{did}/attachments", headers=actor.headers)
        draft = await client.get(f"/v1/dossiers/{did}/attachments/{draft_id}/content", headers=actor.headers)
        return [a["id"] for a in listed.json()["items"] if a["kind"] == "result"], draft.status_code

    assert await results_seen_by(citizen) == ([issued_id], 404)
    assert await results_seen_by(flow.processing) == ([draft_id, issued_id], 200)
    await flow.act(flow.reception, did, "return_result", delivery={"method": "online"})
    assert await results_seen_by(citizen) == ([issued_id], 404)

"""Reuse of digitised documents: the applicant's own files (`GET /v1/accounts/me/documents`) attached to a new draft
or a requested supplement by reference (`POST .../attachments` with a JSON body), under an upload's rules."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from app.core.settings import get_settings
from app.dossiers.commands import collect_garbage
from app.dossiers.models import Attachment
from app.dossiers.storage import blob_key
from tests.support.dossier_fixtures import PDF, PNG
from tests.support.paging import pages

DOCUMENTS = "/v1/accounts/me/documents"


def unique_pdf() -> bytes:
    """A PDF of its own (storage is by content: a shared PDF would be every test's file)."""
    return PDF + f"% {uuid.uuid4().hex}\n".encode()


async def reuse(client: Any, actor: Any, dossier_id: str, source_id: str, part: str = "application_form",
                headers: dict[str, str] | None = None) -> Any:
    return await client.post(f"/v1/dossiers/{dossier_id}/attachments", headers={**actor.headers, **(headers or {})},
                             json={"part": part, "source_attachment_id": source_id})


async def documents(client: Any, actor: Any, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = await client.get(DOCUMENTS, headers={**actor.headers, **(headers or {})})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def filed(client: Any, dossiers: Any, actor: Any, code: str, content: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A submitted dossier whose application form is `content`; (the dossier, its file)."""
    draft = await dossiers.draft(client, actor, code, headers=headers)
    upload = await dossiers.upload(client, actor, draft["id"], content=content or unique_pdf(), headers=headers)
    assert upload.status_code == 201, upload.text
    submitted = await dossiers.submit(client, actor, draft["id"], headers=headers)
    assert submitted.status_code == 200, submitted.text
    return submitted.json(), upload.json()


async def etag(client: Any, actor: Any, dossier_id: str) -> str:
    return str((await client.get(f"/v1/dossiers/{dossier_id}", headers=actor.headers)).headers["etag"])


async def test_a_file_of_an_earlier_dossier_is_attached_again_without_uploading_it(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    content = unique_pdf()
    earlier, source = await filed(client, dossiers, citizen, code, content)
    listed = await documents(client, citizen)
    assert [(d["id"], d["dossier_code"], d["part"], d["kind"], d["sha256"], d["size"], d["media_type"])
            for d in listed] == [(source["id"], earlier["code"], "application_form", "document", source["sha256"],
                                  len(content), "application/pdf")]
    draft = await dossiers.draft(client, citizen, code)
    before = await etag(client, citizen, draft["id"])
    answer = await reuse(client, citizen, draft["id"], source["id"])
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert (made["reused_from"], made["sha256"], made["size"], made["file_name"], made["kind"]) == (
        source["id"], source["sha256"], len(content), source["file_name"], "document")
    assert made["id"] != source["id"] and not made["handed_in"]
    assert answer.headers["location"] == f"/v1/dossiers/{draft['id']}/attachments/{made['id']}/content"
    assert await etag(client, citizen, draft["id"]) != before  # a co-worker's If-Match read before is now stale
    content_of = await client.get(answer.headers["location"], headers=citizen.headers)
    assert content_of.status_code == 200 and content_of.content == content
    async with _session() as session:  # the same stored file, not a copy
        keys = set((await session.execute(select(Attachment.storage_key).where(
            Attachment.id.in_([uuid.UUID(made["id"]), uuid.UUID(source["id"])])))).scalars())
    assert len(keys) == 1
    # The reused file fills the required part: the draft files.
    submitted = await dossiers.submit(client, citizen, draft["id"])
    assert submitted.status_code == 200, submitted.text
    assert {d["id"] for d in await documents(client, citizen)} == {source["id"], made["id"]}


async def test_a_retry_with_the_same_idempotency_key_is_answered_once(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    _, source = await filed(client, dossiers, citizen, code)
    draft = await dossiers.draft(client, citizen, code)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await reuse(client, citizen, draft["id"], source["id"], headers=key)
    again = await reuse(client, citizen, draft["id"], source["id"], headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await reuse(client, citizen, draft["id"], source["id"], part="id_copy", headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    listed = (await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)).json()
    assert len(listed["items"]) == 1


async def test_a_result_issued_to_the_applicant_is_reused_once_issued(client, flow, dossiers):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    result_id = await flow.upload_result(did, unique_pdf())
    draft = await dossiers.draft(client, citizen, code)
    # Before issue_result the result is a draft between officials: not the applicant's, not reusable.
    assert result_id not in {d["id"] for d in await documents(client, citizen)}
    refused = await reuse(client, citizen, draft["id"], result_id, part="id_copy")
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    await flow.act(flow.approval, did, "approve")
    await flow.act(flow.approval, did, "issue_result", attachments=[result_id])
    result = next(d for d in await documents(client, citizen) if d["id"] == result_id)
    assert (result["kind"], result["dossier_code"]) == ("result", dossier["code"])
    answer = await reuse(client, citizen, draft["id"], result_id, part="id_copy")
    assert answer.status_code == 201, answer.text
    assert answer.json()["reused_from"] == result_id


async def test_a_result_upload_never_issued_is_not_the_applicants(client, flow, dossiers):
    """A stopped dossier's result upload was never issued: not listed, not reusable."""
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    result_id = await flow.upload_result(did, unique_pdf())
    await flow.act(flow.processing, did, "stop", reason="Người nộp đề nghị dừng")
    listed = await documents(client, citizen)
    assert result_id not in {d["id"] for d in listed}
    assert {d["kind"] for d in listed} == {"document"}
    draft = await dossiers.draft(client, citizen, code)
    assert (await reuse(client, citizen, draft["id"], result_id, part="id_copy")).status_code == 404


async def test_another_applicants_file_is_404_like_an_unknown_one(client, accounts, dossiers):
    code = await dossiers.procedure()
    owner, stranger = await accounts.citizen(), await accounts.citizen()
    _, theirs = await filed(client, dossiers, owner, code)
    own_draft = await dossiers.draft(client, owner, code)
    in_draft = await dossiers.upload(client, owner, own_draft["id"], content=unique_pdf())  # not filed yet
    draft = await dossiers.draft(client, stranger, code)
    answers = [await reuse(client, stranger, draft["id"], theirs["id"]),
               await reuse(client, stranger, draft["id"], str(uuid.uuid4())),
               await reuse(client, owner, (await dossiers.draft(client, owner, code))["id"], in_draft.json()["id"])]
    assert {(a.status_code, a.json()["code"], a.json()["detail"]) for a in answers} == {
        (404, "not_found", answers[1].json()["detail"])}
    assert await documents(client, stranger) == []
    # An official holds no documents of their own.
    official = await accounts.official(roles=["reception"])
    refused = await client.get(DOCUMENTS, headers=official.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden_role"


async def test_closed_dossiers_take_no_file_and_a_requested_supplement_does(client, flow, dossiers):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    _, source = await filed(client, dossiers, citizen, code)
    did = dossier["id"]
    closed = await reuse(client, citizen, did, source["id"], part="id_copy")
    assert closed.status_code == 409 and closed.json()["code"] == "attachments_closed"
    await flow.act(flow.reception, did, "request_supplement", items=["Bản sao giấy tờ"])
    before = await etag(client, citizen, did)
    supplied = await reuse(client, citizen, did, source["id"], part="id_copy")
    assert supplied.status_code == 201, supplied.text
    assert (supplied.json()["kind"], supplied.json()["reused_from"]) == ("supplement", source["id"])
    assert await etag(client, citizen, did) != before
    # Not the applicant's document until the supplement action hands it in.
    assert supplied.json()["id"] not in {d["id"] for d in await documents(client, citizen)}
    await flow.act(citizen, did, "supplement", attachments=[supplied.json()["id"]])
    handed = next(d for d in await documents(client, citizen) if d["id"] == supplied.json()["id"])
    assert (handed["kind"], handed["dossier_code"]) == ("supplement", dossier["code"])


async def test_the_parts_media_types_and_size_limit_apply(client, accounts, dossiers):
    code = await dossiers.procedure(parts=[
        {"key": "application_form", "name": "Đơn", "required": True, "media_types": ["application/pdf"]},
        {"key": "photo", "name": "Ảnh", "required": False, "media_types": ["image/png"]},
        {"key": "small", "name": "Tờ khai ngắn", "required": False, "media_types": ["application/pdf"],
         "max_bytes": 100},
    ])
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    png = await dossiers.upload(client, citizen, draft["id"], "photo", content=PNG + uuid.uuid4().bytes,
                                file_name="anh.png")
    assert png.status_code == 201, png.text
    big_pdf = unique_pdf() + b"%" + b"x" * 200 + b"\n"
    assert (await dossiers.upload(client, citizen, draft["id"], content=big_pdf)).status_code == 201
    assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    mine = {d["media_type"]: d for d in await documents(client, citizen)}
    target = await dossiers.draft(client, citizen, code)
    wrong_type = await reuse(client, citizen, target["id"], mine["image/png"]["id"], part="application_form")
    assert wrong_type.status_code == 415, wrong_type.text
    assert wrong_type.json()["code"] == "media_type_not_allowed" and wrong_type.json()["extra"] == {
        "media_type": "image/png", "allowed": ["application/pdf"]}
    too_big = await reuse(client, citizen, target["id"], mine["application/pdf"]["id"], part="small")
    assert too_big.status_code == 413 and too_big.json()["extra"]["max_bytes"] == 100
    unknown = await reuse(client, citizen, target["id"], mine["application/pdf"]["id"], part="no_such_part")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "part"]
    for body in ({"part": "photo"}, {"part": "photo", "source_attachment_id": "x"},
                 {"part": "photo", "source_attachment_id": mine["image/png"]["id"], "file": "x"}):
        bad = await client.post(f"/v1/dossiers/{target['id']}/attachments", headers=citizen.headers, json=body)
        assert bad.status_code == 422 and bad.json()["code"] == "validation_error", bad.text
        assert bad.json()["errors"][0]["loc"][0] == "body"
    fits = await reuse(client, citizen, target["id"], mine["image/png"]["id"], part="photo")
    assert fits.status_code == 201, fits.text
    assert (await etag(client, citizen, target["id"])) == '"2"'  # the refusals changed nothing


def _session() -> Any:
    from app.core.db import get_database

    return get_database().write_sessions()


def _age(sha256: str) -> Path:
    blob = Path(get_settings().storage_dir) / blob_key(sha256)
    old = time.time() - 2 * 3600
    os.utime(blob, (old, old))  # placed two hours ago: old enough for gc
    return blob


async def test_removing_either_file_never_removes_bytes_the_other_uses(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    content = unique_pdf()
    _, source = await filed(client, dossiers, citizen, code, content)
    draft = await dossiers.draft(client, citizen, code)
    first = (await reuse(client, citizen, draft["id"], source["id"])).json()
    # The reused copy goes: the source keeps its bytes.
    deleted = await client.delete(f"/v1/dossiers/{draft['id']}/attachments/{first['id']}", headers=citizen.headers)
    assert deleted.status_code == 204
    blob = _age(source["sha256"])
    await collect_garbage(older_than=timedelta(hours=1))
    assert blob.exists()
    # A discarded draft takes its reused file with it, never the bytes.
    discard = await dossiers.draft(client, citizen, code)
    assert (await reuse(client, citizen, discard["id"], source["id"])).status_code == 201
    gone = await client.delete(f"/v1/dossiers/{discard['id']}", headers={**citizen.headers, "If-Match": "*"})
    assert gone.status_code == 204, gone.text
    await collect_garbage(older_than=timedelta(hours=1))
    assert blob.exists()
    # The source row goes (no route deletes a filed document; a retention purge could): the reuse keeps its bytes.
    kept = (await reuse(client, citizen, draft["id"], source["id"])).json()
    async with _session() as session:
        await session.execute(delete(Attachment).where(Attachment.id == uuid.UUID(source["id"])))
        await session.commit()
    _age(source["sha256"])
    await collect_garbage(older_than=timedelta(hours=1))
    download = await client.get(f"/v1/dossiers/{draft['id']}/attachments/{kept['id']}/content",
                                headers=citizen.headers)
    assert download.status_code == 200 and download.content == content
    listed = (await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)).json()["items"]
    assert [a["reused_from"] for a in listed] == [None]  # the source is gone; the file stays
    # Once no row names the bytes, gc takes them (so the checks above could fail).
    assert (await client.delete(f"/v1/dossiers/{draft['id']}/attachments/{kept['id']}",
                                headers=citizen.headers)).status_code == 204
    await collect_garbage(older_than=timedelta(hours=1))
    assert not blob.exists()


async def test_the_list_is_the_applicants_own_newest_first_in_pages(client, accounts, dossiers):
    code = await dossiers.procedure()
    org, rep, other = await accounts.organisation(), await accounts.citizen(), await accounts.citizen()
    await accounts.representative(org, rep)
    on_behalf = {"X-On-Behalf-Of": str(org.id)}
    org_files = [(await filed(client, dossiers, rep, code, headers=on_behalf))[1]["id"] for _ in range(2)]
    org_files.append((await filed(client, dossiers, org, code))[1]["id"])
    rep_own = (await filed(client, dossiers, rep, code))[1]["id"]
    other_file = (await filed(client, dossiers, other, code))[1]["id"]
    draft = await dossiers.draft(client, org, code)  # a draft's file is not a digitised document yet
    assert (await dossiers.upload(client, org, draft["id"], content=unique_pdf())).status_code == 201
    walked = await pages(client, DOCUMENTS, {**rep.headers, **on_behalf}, limit=1)
    assert [len(p["items"]) for p in walked] == [1, 1, 1]
    items = [item for page in walked for item in page["items"]]
    assert [i["id"] for i in items] == org_files[::-1]  # newest first
    assert [i["uploaded_at"] for i in items] == sorted((i["uploaded_at"] for i in items), reverse=True)
    assert [i["id"] for i in await documents(client, org)] == org_files[::-1]
    assert [i["id"] for i in await documents(client, rep)] == [rep_own]
    assert [i["id"] for i in await documents(client, other)] == [other_file]
    # The representative reuses the organisation's file for it; not for themselves.
    org_draft = await dossiers.draft(client, rep, code, headers=on_behalf)
    assert (await reuse(client, rep, org_draft["id"], org_files[0], headers=on_behalf)).status_code == 201
    rep_draft = await dossiers.draft(client, rep, code)
    assert (await reuse(client, rep, rep_draft["id"], org_files[0])).status_code == 404
    bad_cursor = await client.get(DOCUMENTS, headers=org.headers, params={"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 422


async def test_the_indicator_counts_submitted_dossiers_that_reused_a_file(client, accounts, dossiers):
    from app.core import clock

    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    _, source = await filed(client, dossiers, citizen, code)
    for n in range(2):  # two more dossiers filed by reuse, one of them with an upload beside it
        draft = await dossiers.draft(client, citizen, code)
        assert (await reuse(client, citizen, draft["id"], source["id"])).status_code == 201
        if n:
            assert (await dossiers.upload(client, citizen, draft["id"], "id_copy")).status_code == 201
        assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    pending = await dossiers.draft(client, citizen, code)  # reused but not submitted: not counted
    assert (await reuse(client, citizen, pending["id"], source["id"])).status_code == 201
    refused = await dossiers.draft(client, citizen, code)  # a submit refused counts nothing
    assert (await reuse(client, citizen, refused["id"], source["id"], part="id_copy")).status_code == 201
    assert (await dossiers.submit(client, citizen, refused["id"])).status_code == 422
    today = clock.local(clock.now()).date().isoformat()
    admin = await accounts.admin()
    report = await client.get("/v1/reports/indicators", params={"from": today, "to": today}, headers=admin.headers)
    assert report.status_code == 200, report.text
    digitisation = next(g for g in report.json()["total"]["groups"] if g["name"] == "digitisation")
    reused = next(r for r in digitisation["ratios"] if r["name"] == "digitised_data_reused")
    assert (reused["available"], reused["numerator"], reused["denominator"], reused["value"]) == (
        True, 2, 3, round(2 / 3, 4))

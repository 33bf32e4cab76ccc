"""Streamed uploads: limits enforced while streaming, type by content, safe names, no leftovers."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from app.core.responses import content_disposition
from app.core.settings import get_settings
from app.dossiers.storage import get_store
from tests.support.dossier_fixtures import PDF, PNG

BOUNDARY = "testboundary7MA4YWxkTrZu0gW"


def _staging_files() -> list[Path]:
    staging = Path(get_settings().storage_dir) / "tmp"
    return list(staging.iterdir()) if staging.exists() else []


def _multipart_head(part: str, file_name: str = "big.pdf") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"part\"\r\n\r\n{part}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode()


class CountingBody:
    """A request body streamed in chunks; remembers how many were pulled by the server."""

    def __init__(self, part: str, total_chunks: int, chunk: int = 16 * 1024) -> None:
        self.part, self.total, self.chunk, self.sent = part, total_chunks, chunk, 0

    async def __aiter__(self):
        yield _multipart_head(self.part)
        for i in range(self.total):
            self.sent += 1
            yield (PDF if i == 0 else b"") + b"x" * (self.chunk - (len(PDF) if i == 0 else 0))
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def _draft(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    return citizen, draft


async def test_upload_list_download_with_checksum(client, accounts, dossiers):
    citizen, draft = await _draft(client, accounts, dossiers)
    response = await dossiers.upload(client, citizen, draft["id"], file_name="Đơn đề nghị.pdf")
    assert response.status_code == 201, response.text
    body = response.json()
    digest = hashlib.sha256(PDF).hexdigest()
    assert body["sha256"] == digest and body["size"] == len(PDF) and body["media_type"] == "application/pdf"
    assert body["part"] == "application_form" and body["file_name"] == "Đơn đề nghị.pdf"
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert [a["id"] for a in listed.json()["items"]] == [body["id"]]
    content = await client.get(f"/v1/dossiers/{draft['id']}/attachments/{body['id']}/content",
                               headers=citizen.headers)
    assert content.status_code == 200 and content.content == PDF
    assert content.headers["etag"] == f'"{digest}"'
    assert content.headers["digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(PDF).digest()).decode()
    assert content.headers["content-type"] == "application/pdf"
    assert not _staging_files()


async def test_same_content_is_stored_once(client, accounts, dossiers):
    citizen, draft = await _draft(client, accounts, dossiers)
    first = (await dossiers.upload(client, citizen, draft["id"])).json()
    second = (await dossiers.upload(client, citizen, draft["id"], "id_copy")).json()
    assert first["sha256"] == second["sha256"]
    assert sum(1 for _ in get_store().blobs()) >= 1
    key = f"sha256/{first['sha256'][:2]}/{first['sha256'][2:4]}/{first['sha256']}"
    assert (Path(get_settings().storage_dir) / key).read_bytes() == PDF


async def test_too_large_is_refused_while_streaming(client, accounts, dossiers):
    citizen, draft = await _draft(client, accounts, dossiers)
    body = CountingBody("id_copy", total_chunks=640)  # 10 MiB against a 64 KiB part limit
    response = await client.post(f"/v1/dossiers/{draft['id']}/attachments", content=body,
                                 headers={**citizen.headers,
                                          "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert body.sent < 10, f"the server read {body.sent} of {body.total} chunks before refusing"
    assert not _staging_files()
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert listed.json()["items"] == []


async def test_global_cap_applies_below_part_limit(client, accounts, dossiers, monkeypatch):
    import app.dossiers.uploads as uploads

    capped = get_settings().model_copy(update={"max_upload_bytes": 32 * 1024})
    monkeypatch.setattr(uploads, "get_settings", lambda: capped)
    citizen, draft = await _draft(client, accounts, dossiers)
    body = CountingBody("application_form", total_chunks=64)  # part allows 10 MiB
    response = await client.post(f"/v1/dossiers/{draft['id']}/attachments", content=body,
                                 headers={**citizen.headers,
                                          "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 413 and response.json()["extra"]["max_bytes"] == 32 * 1024
    assert body.sent < 5
    assert not _staging_files()


async def test_media_type_is_judged_by_content(client, accounts, dossiers):
    citizen, draft = await _draft(client, accounts, dossiers)
    # A PNG sent as "don.pdf" with Content-Type application/pdf to a PDF-only part.
    response = await dossiers.upload(client, citizen, draft["id"], "application_form", PNG, "don.pdf")
    assert response.status_code == 415 and response.json()["code"] == "media_type_not_allowed"
    assert response.json()["extra"]["media_type"] == "image/png"
    text = await dossiers.upload(client, citizen, draft["id"], "application_form", b"just text " * 10, "a.pdf")
    assert text.status_code == 415
    png_ok = await dossiers.upload(client, citizen, draft["id"], "id_copy", PNG, "anh.png")
    assert png_ok.status_code == 201 and png_ok.json()["media_type"] == "image/png"
    assert not _staging_files()


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..\\..\\windows\\system.pdf", "system.pdf"),
    ("/abs/path/x.pdf", "x.pdf"),
    ("....pdf", "pdf"),
    ("..", "file"),
])
async def test_file_names_lose_path_tricks(client, accounts, dossiers, raw, expected):
    citizen, draft = await _draft(client, accounts, dossiers)
    response = await dossiers.upload(client, citizen, draft["id"], file_name=raw)
    assert response.status_code == 201, response.text
    assert response.json()["file_name"] == expected
    root = Path(get_settings().storage_dir).resolve()
    assert all(root in (root / b.key).resolve().parents for b in get_store().blobs())
    assert not (root.parent / "etc").exists()


def test_sanitiser_drops_control_characters_and_quotes():
    from app.dossiers.uploads import sanitise_file_name

    assert sanitise_file_name('a\x00b\x1f".pdf') == "a_b__.pdf"
    assert sanitise_file_name("C:\\Users\\x\\..\\đơn.pdf") == "đơn.pdf"
    assert len(sanitise_file_name("a" * 500 + ".pdf")) == 200
    assert sanitise_file_name("a" * 500 + ".pdf").endswith(".pdf")
    assert sanitise_file_name("abc\u202efdp.exe") == "abcfdp.exe"  # no right-to-left override to disguise it
    assert sanitise_file_name(". . .hidden.pdf") == "hidden.pdf" and sanitise_file_name(". . .") == "file"


async def test_empty_file_missing_fields_and_unknown_part(client, accounts, dossiers):
    citizen, draft = await _draft(client, accounts, dossiers)
    empty = await dossiers.upload(client, citizen, draft["id"], content=b"")
    assert empty.status_code == 422 and empty.json()["errors"][0]["loc"] == ["body", "file"]
    unknown = await dossiers.upload(client, citizen, draft["id"], "no_such_part")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "part"]
    no_file = await client.post(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers,
                                data={"part": "application_form"}, files={"other": ("x", b"y")})
    assert no_file.status_code == 422
    not_multipart = await client.post(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers,
                                      json={"part": "application_form"})
    assert not_multipart.status_code == 422
    assert not _staging_files()


async def test_client_disconnect_removes_staging_file(app, accounts, dossiers, client, caplog):
    citizen, draft = await _draft(client, accounts, dossiers)
    messages = [_multipart_head("application_form") + PDF, b"x" * 65536, b"x" * 65536]
    sent: list[dict] = []
    staged_during: list[int] = []

    async def receive():
        if messages:
            return {"type": "http.request", "body": messages.pop(0), "more_body": True}
        staged_during.append(len(_staging_files()))
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": f"/v1/dossiers/{draft['id']}/attachments", "raw_path": b"",
             "query_string": b"", "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
             "headers": [(b"host", b"testserver"), (b"authorization", citizen.headers["Authorization"].encode()),
                         (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]}
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert staged_during == [1], "the upload was being staged when the client went away"
    # The client's doing, not a server fault: a 4xx for the access log, no "unhandled error" (it was a 500).
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not _staging_files()
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert listed.json()["items"] == []


async def test_attachments_close_after_submit_and_delete_only_drafts(client, accounts, dossiers):
    citizen, draft = await _draft(client, accounts, dossiers)
    kept = (await dossiers.upload(client, citizen, draft["id"])).json()
    dropped = (await dossiers.upload(client, citizen, draft["id"], "id_copy", PNG, "a.png")).json()
    url = f"/v1/dossiers/{draft['id']}/attachments"
    assert (await client.delete(f"{url}/{dropped['id']}", headers=citizen.headers)).status_code == 204
    assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    closed = await dossiers.upload(client, citizen, draft["id"])
    assert closed.status_code == 409 and closed.json()["code"] == "attachments_closed"
    assert not _staging_files()
    late = await client.delete(f"{url}/{kept['id']}", headers=citizen.headers)
    assert late.status_code == 409 and late.json()["code"] == "dossier_not_draft"


async def test_approval_official_attaches_result_while_processing(client, accounts, dossiers):
    from sqlalchemy import update

    from app.core.db import get_database
    from app.dossiers.models import Dossier

    citizen, draft = await _draft(client, accounts, dossiers)
    await dossiers.upload(client, citizen, draft["id"])
    await dossiers.submit(client, citizen, draft["id"])
    approver = await accounts.official(roles=["approval"])
    clerk = await accounts.official(roles=["reception"])
    url = f"/v1/dossiers/{draft['id']}/attachments"
    result = {"part": "result"}
    files = {"file": ("kq.pdf", PDF, "application/pdf")}
    assert (await client.post(url, headers=approver.headers, data=result, files=files)).status_code == 409
    async with get_database().write_sessions() as session, session.begin():
        # The workflow engine's job; done by hand here.
        await session.execute(update(Dossier).where(Dossier.id == uuid.UUID(draft["id"])).values(
            state="processing", national_status_code=4, version=Dossier.version + 1))
    assert (await client.post(url, headers=clerk.headers, data=result, files=files)).status_code == 409
    ok = await client.post(url, headers=approver.headers, data=result, files=files)
    assert ok.status_code == 201, ok.text
    assert ok.json()["kind"] == "result"


async def test_storage_gc_removes_only_old_unreferenced_files(client, accounts, dossiers):
    from app.dossiers.commands import collect_garbage
    from app.dossiers.storage import blob_key

    citizen, draft = await _draft(client, accounts, dossiers)
    kept = (await dossiers.upload(client, citizen, draft["id"])).json()
    root = Path(get_settings().storage_dir)
    old = time.time() - 2 * 3600
    orphan = root / blob_key("ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"crashed between file and row")
    fresh = root / blob_key("cd" * 32)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"an upload still committing")
    staged = root / "tmp" / "upload-dead.part"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(b"half")
    referenced = root / blob_key(kept["sha256"])
    for path in (orphan, staged, referenced):
        os.utime(path, (old, old))
    result = await collect_garbage(older_than=timedelta(hours=1))
    assert not orphan.exists() and not staged.exists()
    assert fresh.exists() and referenced.exists()
    assert result.removed_blobs == 1 and result.removed_staging == 1
    fresh.unlink()


async def test_the_attachment_list_is_paged_like_every_list(client, accounts, dossiers):
    # API-CONVENTIONS: `?limit=`, `?cursor=`, `{"items", "next_cursor"}`. It returned every file, ignored
    # `limit` and had no `next_cursor` (a dossier holds up to 200 files of each kind).
    citizen, draft = await _draft(client, accounts, dossiers)
    uploaded = []
    for n in range(3):
        response = await dossiers.upload(client, citizen, draft["id"], content=PDF + bytes([n]))
        assert response.status_code == 201, response.text
        uploaded.append(response.json()["id"])
    url = f"/v1/dossiers/{draft['id']}/attachments"
    whole = (await client.get(url, headers=citizen.headers)).json()  # oldest first (ties by id)
    assert sorted(a["id"] for a in whole["items"]) == sorted(uploaded) and whole["next_cursor"] is None
    first = (await client.get(f"{url}?limit=2", headers=citizen.headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await client.get(f"{url}?limit=2&cursor={first['next_cursor']}", headers=citizen.headers)).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert [a["id"] for a in first["items"] + rest["items"]] == [a["id"] for a in whole["items"]]
    forged = await client.get(f"{url}?cursor=bm90LWEtY3Vyc29y", headers=citizen.headers)
    assert forged.status_code == 422 and forged.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_a_download_names_the_file_in_utf_8_and_in_plain_ascii(client, accounts, dossiers):
    """RFC 6266: `filename*` for clients that read it, `filename` (diacritics dropped) for those that do not."""
    citizen, draft = await _draft(client, accounts, dossiers)
    uploaded = await dossiers.upload(client, citizen, draft["id"], file_name="Đơn đề nghị bản chính.pdf")
    assert uploaded.status_code == 201, uploaded.text
    content = await client.get(f"/v1/dossiers/{draft['id']}/attachments/{uploaded.json()['id']}/content",
                               headers=citizen.headers)
    disposition = content.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Don de nghi ban chinh.pdf"; filename*=UTF-8\'\''), disposition
    assert unquote(disposition.split("''", 1)[1]) == uploaded.json()["file_name"]


def test_the_ascii_file_name_keeps_quotes_and_other_scripts_out():
    assert content_disposition("inline", 'a "b"\\c 中.pdf') == (
        'inline; filename="a _b__c _.pdf"; filename*=UTF-8\'\'a%20%22b%22%5Cc%20%E4%B8%AD.pdf')

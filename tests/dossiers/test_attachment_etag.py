"""A file added or removed changes the dossier's ETag, in the transaction that writes the file's row: an
`If-Match` read before a co-worker's (or another tab's) file change is stale (both databases)."""

from __future__ import annotations

import asyncio

from tests.support.dossier_fixtures import OPTIONAL_PARTS


async def _etag(client, actor, dossier_id: str) -> str:
    response = await client.get(f"/v1/dossiers/{dossier_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    return str(response.headers["etag"])


async def test_an_upload_or_a_deletion_makes_a_draft_etag_stale(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    did = draft["id"]
    before = await _etag(client, citizen, did)
    upload = await dossiers.upload(client, citizen, did, "application_form")
    assert upload.status_code == 201, upload.text
    after_upload = await _etag(client, citizen, did)
    assert after_upload != before
    # Submit with the ETag read before the file landed: 412 with the current one, nothing filed.
    stale = await dossiers.submit(client, citizen, did, headers={"If-Match": before})
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert stale.headers["etag"] == after_upload
    patched = await client.patch(f"/v1/dossiers/{did}", headers={**citizen.headers, "If-Match": before},
                                 json={"form": {}})
    assert patched.status_code == 412
    extra = await dossiers.upload(client, citizen, did, "id_copy")
    assert extra.status_code == 201
    after_second = await _etag(client, citizen, did)
    deleted = await client.delete(f"/v1/dossiers/{did}/attachments/{extra.json()['id']}", headers=citizen.headers)
    assert deleted.status_code == 204
    after_delete = await _etag(client, citizen, did)
    assert len({before, after_upload, after_second, after_delete}) == 4
    assert (await dossiers.submit(client, citizen, did, headers={"If-Match": after_second})).status_code == 412
    submitted = await dossiers.submit(client, citizen, did, headers={"If-Match": after_delete})
    assert submitted.status_code == 200, submitted.text
    # A refused upload changes nothing.
    closed = await dossiers.upload(client, citizen, did, "id_copy")
    assert closed.status_code == 409
    assert await _etag(client, citizen, did) == submitted.headers["etag"]


async def test_a_supplement_or_result_upload_makes_an_officials_if_match_stale(client, flow):
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.processing, did, "request_supplement", reason="Thiếu giấy tờ", items=["Bản sao CCCD"])
    seen = await _etag(client, flow.processing, did)
    file_id = await flow.upload_supplement(citizen, did)
    stale = await flow.post(flow.processing, did, "stop", etag=seen, reason="Không bổ sung")
    assert stale.status_code == 412 and stale.headers["etag"] == await _etag(client, flow.processing, did)
    await flow.act(citizen, did, "supplement", attachments=[file_id])
    await flow.act(flow.processing, did, "appraise")
    seen = await _etag(client, flow.approval, did)
    await flow.upload_result(did, b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    stale = await flow.post(flow.approval, did, "approve", etag=seen)
    assert stale.status_code == 412, stale.text
    assert (await flow.get(flow.approval, did))["state"] == "processing"


async def test_parallel_uploads_each_bump_the_version_once(client, accounts, dossiers):
    code = await dossiers.procedure(parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    did = draft["id"]
    first = int((await _etag(client, citizen, did)).strip('"'))
    uploads = await asyncio.gather(*[dossiers.upload(client, citizen, did, "other", file_name=f"tep-{i}.pdf")
                                     for i in range(5)])
    assert [u.status_code for u in uploads] == [201] * 5, [u.text for u in uploads]
    assert await _etag(client, citizen, did) == f'"{first + 5}"'

"""An attachment's `handed_in`: which files are part of the dossier as filed and answered. A file uploaded while a
supplement is requested is not until a `supplement` action names it, and never when the answer left it out; a
result upload is not until `issue_result` issues it (both databases)."""

from __future__ import annotations

from typing import Any

RESULT_PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


async def _files(client: Any, actor: Any, dossier_id: str, handed_in: bool | None = None) -> dict[str, bool]:
    """The files `actor` sees (one page: a handful here), with their `handed_in`, filtered when asked."""
    params = {"limit": 200, **({} if handed_in is None else {"handed_in": str(handed_in).lower()})}
    response = await client.get(f"/v1/dossiers/{dossier_id}/attachments", headers=actor.headers, params=params)
    assert response.status_code == 200 and response.json()["next_cursor"] is None, response.text
    items = response.json()["items"]
    if handed_in is not None:
        assert all(item["handed_in"] is handed_in for item in items)
    return {item["id"]: item["handed_in"] for item in items}


async def test_documents_are_handed_in_with_the_submission(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    upload = await dossiers.upload(client, citizen, draft["id"], "application_form")
    assert upload.status_code == 201 and upload.json()["handed_in"] is False
    assert await _files(client, citizen, draft["id"]) == {upload.json()["id"]: False}
    assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    assert await _files(client, citizen, draft["id"]) == {upload.json()["id"]: True}
    assert await _files(client, citizen, draft["id"], False) == {}


async def test_supplement_uploads_are_marked_until_handed_in_and_result_uploads_until_issued(client, flow):
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    documents = await _files(client, flow.processing, did)
    assert documents and all(documents.values())
    await flow.to_processing(did)
    await flow.act(flow.processing, did, "request_supplement", reason="Thiếu giấy tờ", items=["Bản sao CCCD"])
    sent = await flow.upload_supplement(citizen, did)
    left_out = await flow.upload_supplement(citizen, did)
    # Officials see what the applicant is preparing, marked as not handed in; so does the applicant.
    for actor in (flow.processing, flow.reception, citizen):
        files = await _files(client, actor, did)
        assert (files[sent], files[left_out]) == (False, False)
        assert set(await _files(client, actor, did, False)) == {sent, left_out}
    await flow.act(citizen, did, "supplement", attachments=[sent])
    for actor in (flow.processing, citizen):
        files = await _files(client, actor, did)
        assert (files[sent], files[left_out]) == (True, False)
        assert set(await _files(client, actor, did, True)) == {*documents, sent}
        assert set(await _files(client, actor, did, False)) == {left_out}
    # A later request: the file left out of the first answer is still not part of the dossier.
    await flow.act(flow.processing, did, "request_supplement", reason="Thiếu ảnh", items=["Ảnh 4x6"])
    later = await flow.upload_supplement(citizen, did)
    assert set(await _files(client, flow.processing, did, False)) == {left_out, later}
    await flow.act(citizen, did, "supplement", attachments=[later])
    assert set(await _files(client, flow.processing, did, False)) == {left_out}

    await flow.act(flow.processing, did, "appraise")
    await flow.act(flow.approval, did, "approve")
    draft_result = await flow.upload_result(did, RESULT_PDF)
    issued = await flow.upload_result(did, RESULT_PDF + b"\n")
    files = await _files(client, flow.approval, did)
    assert (files[draft_result], files[issued]) == (False, False)
    await flow.act(flow.approval, did, "issue_result", attachments=[issued])
    files = await _files(client, flow.approval, did)
    assert (files[draft_result], files[issued]) == (False, True)
    # The applicant sees the issued result only, handed in.
    mine = await _files(client, citizen, did)
    assert draft_result not in mine and mine[issued] is True
    assert set(await _files(client, flow.approval, did, False)) == {left_out, draft_result}


async def test_handed_in_filter_takes_only_a_boolean(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    response = await client.get(f"/v1/dossiers/{draft['id']}/attachments?handed_in=maybe", headers=citizen.headers)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"

"""Audit of the attachment count cap (DVC_MAX_ATTACHMENTS_PER_DOSSIER): retries, other kinds, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app.core.settings import get_settings
from tests.support.dossier_fixtures import PDF
from tests.support.edges import expect_problem

AGENCY = "000.00.12.H01"


@pytest.fixture
def cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def set_cap(limit: int) -> None:
        monkeypatch.setenv("DVC_MAX_ATTACHMENTS_PER_DOSSIER", str(limit))
        get_settings.cache_clear()

    yield set_cap
    monkeypatch.delenv("DVC_MAX_ATTACHMENTS_PER_DOSSIER", raising=False)
    get_settings.cache_clear()


async def test_an_upload_retried_with_its_key_is_replayed_when_it_filled_the_dossier(client, accounts, dossiers,
                                                                                     cap):
    """The retry of an upload whose answer was lost must get that answer again, not 409 because the very file it
    uploaded filled the dossier."""
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    cap(1)
    key = {"Idempotency-Key": "upload-the-form-once"}
    first = await dossiers.upload(client, citizen, draft["id"], headers=key)
    assert first.status_code == 201, first.text
    again = await dossiers.upload(client, citizen, draft["id"], headers=key)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    # Another file is still refused.
    expect_problem(await dossiers.upload(client, citizen, draft["id"], content=PDF + b"%other\n"),
                   409, "attachment_limit_reached")


async def test_the_applicants_files_do_not_block_the_agencys_result_or_a_supplement(flow, cap):
    """The applicant alone decides how many documents the draft holds, and can delete none once it is submitted:
    a dossier they filled to the cap must still take the supplement the agency asks for and the result file the
    agency issues."""
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    cap(1)  # the dossier holds its one application form: full
    await flow.act(flow.reception, did, "request_supplement", items=["Bản sao giấy tờ"])
    supplement = await flow.dossiers.upload(flow.client, citizen, did, "id_copy", file_name="bo-sung.pdf")
    assert supplement.status_code == 201, supplement.text
    await flow.act(citizen, did, "supplement", attachments=[supplement.json()["id"]])
    await flow.to_processing(did)
    result = await flow.client.post(f"/v1/dossiers/{did}/attachments", headers=flow.approval.headers,
                                    data={"part": "result"}, files={"file": ("ket-qua.pdf", PDF, "application/pdf")})
    assert result.status_code == 201, result.text


async def test_concurrent_uploads_never_pass_the_cap(client, accounts, dossiers, cap):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    cap(3)
    responses = await asyncio.gather(*(
        dossiers.upload(client, citizen, draft["id"], content=PDF + b"%" + str(n).encode() + b"\n")
        for n in range(8)))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 5, [r.text for r in responses]
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert len(listed.json()["items"]) == 3

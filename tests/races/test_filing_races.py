"""Filing races between the dossiers and the catalogue domains: a file uploaded while the draft is submitted,
and a new procedure version published (or the one in force retired) while dossiers are filed against it.
Uploads stream before their transaction, and drafts read the version in force outside the write, so these
interleave on SQLite too: both databases."""

from __future__ import annotations

import asyncio
import collections
from datetime import datetime
from typing import Any

import httpx

from app.dossiers.storage import get_store
from tests.races.support import code_of, later, no_server_error, stagger
from tests.support.dossier_fixtures import DEFAULT_PARTS, Dossiers
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts, Actor

ROUNDS = 6
EXTRA_PART = {"key": "extra", "name": "Giấy tờ bổ sung theo phiên bản mới", "required": True,
              "media_types": ["application/pdf"]}


def _staging_leftovers() -> list[str]:
    return [b.key for b in get_store().staged() if "upload-" in b.key]


async def _attachments(client: httpx.AsyncClient, actor: Actor, dossier_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/dossiers/{dossier_id}/attachments", headers=actor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _attachment_rows_predate_submission(client: httpx.AsyncClient, actor: Actor,
                                              dossier: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file row of a submitted dossier was written before it was submitted (none slipped in after)."""
    files = await _attachments(client, actor, dossier["id"])
    submitted = _at(dossier["submitted_at"])
    assert all(_at(f["uploaded_at"]) <= submitted for f in files), files
    return files


async def test_uploading_the_missing_required_part_while_submitting(client: httpx.AsyncClient, accounts: Accounts,
                                                                    dossiers: Dossiers) -> None:
    """Submit and the upload of the one missing required file at once: submitted (the file is part of it) or
    422 documents_missing (the draft keeps the file); never a submitted dossier without the required file,
    never a 409 for the file of a draft, no staging file left behind."""
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    observed: collections.Counter[str] = collections.Counter()
    for n in range(ROUNDS):
        draft = await dossiers.draft(client, citizen, code)
        first, second = stagger(n, step_s=0.02)
        uploaded, submitted = await asyncio.gather(
            later(dossiers.upload(client, citizen, draft["id"], "application_form"), first),
            later(dossiers.submit(client, citizen, draft["id"]), second))
        no_server_error(uploaded, submitted)
        assert uploaded.status_code == 201, uploaded.text  # the draft was a draft when the upload began
        if submitted.status_code == 200:
            observed["upload first"] += 1
            files = await _attachment_rows_predate_submission(client, citizen, submitted.json())
            assert [f["id"] for f in files] == [uploaded.json()["id"]]
        else:
            observed["submit first"] += 1
            assert (submitted.status_code, code_of(submitted)) == (422, "documents_missing"), submitted.text
            assert submitted.json()["extra"]["missing"] == ["application_form"]
            again = await dossiers.submit(client, citizen, draft["id"])
            assert again.status_code == 200, again.text
        assert _staging_leftovers() == []
    print(dict(observed))


async def test_uploading_an_optional_part_while_submitting(client: httpx.AsyncClient, accounts: Accounts,
                                                          dossiers: Dossiers) -> None:
    """A complete draft is submitted while one more (optional) file streams in: the file is either part of the
    submitted dossier or refused 409 attachments_closed with no row and no staging file left."""
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    observed: collections.Counter[str] = collections.Counter()
    for n in range(ROUNDS):
        draft = await dossiers.draft(client, citizen, code)
        assert (await dossiers.upload(client, citizen, draft["id"], "application_form")).status_code == 201
        first, second = stagger(n, step_s=0.02)
        uploaded, submitted = await asyncio.gather(
            later(dossiers.upload(client, citizen, draft["id"], "id_copy", file_name="cccd.pdf"), first),
            later(dossiers.submit(client, citizen, draft["id"]), second))
        no_server_error(uploaded, submitted)
        assert submitted.status_code == 200, submitted.text
        files = await _attachment_rows_predate_submission(client, citizen, submitted.json())
        if uploaded.status_code == 201:
            observed["in the dossier"] += 1
            assert sorted(f["part"] for f in files) == ["application_form", "id_copy"]
        else:
            observed["refused"] += 1
            assert (uploaded.status_code, code_of(uploaded)) == (409, "attachments_closed"), uploaded.text
            assert [f["part"] for f in files] == ["application_form"]
        assert _staging_leftovers() == []
    print(dict(observed))


async def _new_version(client: httpx.AsyncClient, admin: Actor, code: str, **patch: Any) -> tuple[int, str]:
    """A new draft with `patch` applied: its number and ETag (what publishing it needs)."""
    created = await client.post(f"/v1/procedures/{code}/versions", headers=admin.headers)
    assert created.status_code == 201, created.text
    number = int(created.json()["version"])
    patched = await client.patch(f"/v1/procedures/{code}/versions/{number}", json=patch,
                                 headers={**admin.headers, "If-Match": created.headers["etag"]})
    assert patched.status_code == 200, patched.text
    return number, patched.headers["etag"]


async def _filed(client: httpx.AsyncClient, dossiers: Dossiers, citizen: Actor, code: str) -> httpx.Response:
    return await client.post("/v1/dossiers", headers=citizen.headers,
                             json={"procedure_code": code, "channel": "online", "delivery": {"method": "online"},
                                   "form": {}})


async def _submit_with_v1_parts(client: httpx.AsyncClient, dossiers: Dossiers, citizen: Actor,
                                draft: dict[str, Any]) -> httpx.Response:
    assert (await dossiers.upload(client, citizen, draft["id"], "application_form")).status_code == 201
    return await dossiers.submit(client, citizen, draft["id"])


def _judged_by_its_pinned_version(draft: dict[str, Any], submitted: httpx.Response) -> None:
    """A draft is held to the version it was filed under: v1 wants only the form, v2 also the new part."""
    if draft["procedure_version"] == 1:
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["procedure_version"] == 1
    else:
        assert draft["procedure_version"] == 2
        assert (submitted.status_code, code_of(submitted)) == (422, "documents_missing"), submitted.text
        assert submitted.json()["extra"]["missing"] == ["extra"]


async def test_filing_while_a_new_version_is_published_then_retired(client: httpx.AsyncClient, accounts: Accounts,
                                                                    dossiers: Dossiers) -> None:
    """An agency admin publishes v2 (one more required part) while drafts are created and a v1 draft is
    submitted, then retires v2 while more drafts are created. Each draft is pinned to a version that was in
    force and is held to that version's parts; no draft after the retirement; never 5xx."""
    admin = await accounts.official(DEFAULT_AGENCY, ["agency_admin"])
    citizen = await accounts.citizen()
    observed: collections.Counter[str] = collections.Counter()
    for n in range(3):
        code = await dossiers.procedure()
        ready = await dossiers.draft(client, citizen, code)
        assert (await dossiers.upload(client, citizen, ready["id"], "application_form")).status_code == 201
        v2, reviewed = await _new_version(client, admin, code, document_parts=[*DEFAULT_PARTS, EXTRA_PART])
        first, second = stagger(n, step_s=0.03)
        published, submitted, *filed = await asyncio.gather(
            later(client.post(f"/v1/procedures/{code}/versions/{v2}/publish",
                              headers={**admin.headers, "If-Match": reviewed}), first),
            later(dossiers.submit(client, citizen, ready["id"]), second),
            *(later(_filed(client, dossiers, citizen, code), second * k / 2) for k in range(3)))
        no_server_error(published, submitted, *filed)
        assert published.status_code == 200, published.text
        assert submitted.status_code == 200 and submitted.json()["procedure_version"] == 1, submitted.text
        for response in filed:
            assert response.status_code == 201, response.text
            observed[f"pinned v{response.json()['procedure_version']}"] += 1
            _judged_by_its_pinned_version(response.json(), await _submit_with_v1_parts(
                client, dossiers, citizen, response.json()))

        retired, *late = await asyncio.gather(
            later(client.post(f"/v1/procedures/{code}/versions/{v2}/retire",
                              headers={**admin.headers, "If-Match": published.headers["etag"]}), first),
            *(later(_filed(client, dossiers, citizen, code), second * k / 2) for k in range(3)))
        no_server_error(retired, *late)
        assert retired.status_code == 200, retired.text
        for response in late:
            if response.status_code == 201:
                observed["filed before the retirement"] += 1
                assert response.json()["procedure_version"] == 2
            else:
                observed["refused after the retirement"] += 1
                assert response.status_code == 422 and response.json()["errors"][0]["type"] == "not_published"
        assert (await _filed(client, dossiers, citizen, code)).status_code == 422  # nothing in force any more
    print(dict(observed))

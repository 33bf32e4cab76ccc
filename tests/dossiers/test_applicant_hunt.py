"""What an applicant (citizen, organisation, representative) meets filing, supplementing and following a dossier,
found by walking the portal's paths: each case failed before its fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.catalogue import versions
from app.core import clock
from app.core.db import get_database
from tests.support.catalogue_fixtures import Editor
from tests.support.dossier_fixtures import OPTIONAL_PARTS


async def _catalogue(change: Any) -> None:
    async with get_database().write_sessions() as session, session.begin():
        await change(session)


async def _draft_with_documents(client: Any, accounts: Any, dossiers: Any, code: str) -> tuple[Any, dict[str, Any]]:
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert (await dossiers.upload(client, citizen, draft["id"])).status_code == 201
    return citizen, draft


# --- a draft outlived by its procedure ---------------------------------------------------------------------

async def test_a_draft_of_a_withdrawn_procedure_is_not_filed(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen, draft = await _draft_with_documents(client, accounts, dossiers, code)
    await _catalogue(lambda s: versions.retire(s, Editor(), code, 1, if_match="*"))
    assert (await client.get(f"/v1/procedures/{code}")).status_code == 404  # no longer offered
    refused = await dossiers.submit(client, citizen, draft["id"])
    assert refused.status_code == 409, refused.text  # was 200: a dossier for a procedure that no longer exists
    body = refused.json()
    assert body["code"] == "draft_stale" and body["extra"] == {"procedure_version": 1}
    after = await client.get(f"/v1/dossiers/{draft['id']}", headers=citizen.headers)
    assert after.json()["state"] == "draft" and after.json()["code"] is None  # nothing filed, no code taken


async def test_a_draft_of_a_replaced_version_files_under_it(client, accounts, dossiers):
    # The draft is held to the version it was started under (tests/races/test_filing_races.py), replaced or not.
    code = await dossiers.procedure()
    citizen, draft = await _draft_with_documents(client, accounts, dossiers, code)

    async def replace(session: Any) -> None:
        new = await versions.new_draft(session, Editor(), code)
        await versions.publish(session, Editor(), code, new.version, if_match="*")

    await _catalogue(replace)
    filed = await dossiers.submit(client, citizen, draft["id"])
    assert filed.status_code == 200 and filed.json()["procedure_version"] == 1, filed.text


async def test_a_version_retired_for_a_scheduled_successor_still_files(client, accounts, dossiers):
    code = await dossiers.procedure()
    citizen, draft = await _draft_with_documents(client, accounts, dossiers, code)
    later = clock.now() + timedelta(days=3)

    async def schedule(session: Any) -> None:
        new = await versions.new_draft(session, Editor(), code)
        await versions.publish(session, Editor(), code, new.version, later, if_match="*")

    await _catalogue(schedule)  # version 1 is stored retired, but in force until `later`
    filed = await dossiers.submit(client, citizen, draft["id"])
    assert filed.status_code == 200 and filed.json()["procedure_version"] == 1, filed.text


# --- a draft is saved as the form is filled ------------------------------------------------------------------

FORM_SCHEMA = {"type": "object", "required": ["full_name", "purpose"],
               "properties": {"full_name": {"type": "string"}, "birth_date": {"type": "string", "format": "date"},
                              "purpose": {"enum": ["trade", "research"]}}}


async def test_a_draft_may_lack_required_fields_until_it_is_submitted(client, accounts, dossiers):
    code = await dossiers.procedure(form_schema=FORM_SCHEMA)
    citizen = await accounts.citizen()
    # The portal creates the draft when the procedure is chosen (to upload files), then saves the form as it goes:
    # both were 422 `field required` until every required field was filled.
    created = await client.post("/v1/dossiers", headers=citizen.headers, json={"procedure_code": code, "form": {}})
    assert created.status_code == 201, created.text
    url = f"/v1/dossiers/{created.json()['id']}"
    saved = await client.patch(url, headers={**citizen.headers, "If-Match": created.headers["etag"]},
                               json={"form": {"birth_date": "1990-02-03"}})
    assert saved.status_code == 200, saved.text
    wrong = await client.patch(url, headers={**citizen.headers, "If-Match": saved.headers["etag"]},
                               json={"form": {"birth_date": "03/02/1990"}})
    assert wrong.status_code == 422  # a value given is still checked, on its field
    assert [e["loc"] for e in wrong.json()["errors"]] == [["body", "form", "birth_date"]]
    assert (await dossiers.upload(client, citizen, created.json()["id"])).status_code == 201
    uploaded = await client.get(url, headers=citizen.headers)  # the file changed the ETag
    assert uploaded.headers["etag"] != saved.headers["etag"]
    refused = await dossiers.submit(client, citizen, created.json()["id"])
    assert refused.status_code == 422 and refused.json()["code"] == "validation_error", refused.text
    assert [(e["loc"], e["msg"]) for e in refused.json()["errors"]] == [
        (["body", "form", "full_name"], "field required"), (["body", "form", "purpose"], "field required")]
    filled = await client.patch(url, headers={**citizen.headers, "If-Match": uploaded.headers["etag"]},
                                json={"form": {"birth_date": "1990-02-03", "full_name": "Lê Văn Tám",
                                               "purpose": "trade"}})
    assert filled.status_code == 200, filled.text
    assert (await dossiers.submit(client, citizen, created.json()["id"])).status_code == 200


async def test_desk_intake_registers_a_draft_before_the_form_is_complete(client, accounts, dossiers):
    code = await dossiers.procedure(form_schema=FORM_SCHEMA, parts=OPTIONAL_PARTS)
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    body = {"procedure_code": code, "channel": "desk", "delivery": {"method": "desk"}, "form": {},
            "applicant": {"citizen_id": "001099012345", "name": "Ông Bình"}}
    draft = await client.post("/v1/dossiers/intake", headers=clerk.headers, json=body)
    assert draft.status_code == 201, draft.text
    at_once = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={**body, "submit": True})
    assert at_once.status_code == 422, at_once.text  # filed at once: the whole form is required
    assert [e["loc"] for e in at_once.json()["errors"]] == [["body", "form", "full_name"], ["body", "form", "purpose"]]


async def test_submit_lists_the_missing_documents_and_the_missing_fields_at_once(client, accounts, dossiers):
    code = await dossiers.procedure(form_schema=FORM_SCHEMA)
    citizen = await accounts.citizen()
    created = await client.post("/v1/dossiers", headers=citizen.headers,
                                json={"procedure_code": code, "form": {"full_name": "Lê Văn Tám"}})
    assert created.status_code == 201, created.text
    refused = await dossiers.submit(client, citizen, created.json()["id"])
    assert refused.status_code == 422 and refused.json()["code"] == "documents_missing", refused.text
    # The form's missing field was only told after a second try, once the documents were attached.
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "attachments", "application_form"],
                                                            ["body", "form", "purpose"]]

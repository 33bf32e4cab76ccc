"""What an applicant (citizen, organisation, representative) meets filing, supplementing and following a dossier,
found by walking the portal's paths: each case failed before its fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.catalogue import versions
from app.core import clock
from app.core.db import get_database
from tests.support.catalogue_fixtures import Editor


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

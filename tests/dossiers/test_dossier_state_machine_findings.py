"""What the dossier state machine (test_dossier_state_machine.py) found, each reduced to a small deterministic
test that failed before its fix. A bug found and not fixed yet goes here as a strict xfail, and the machine
excludes just that case until the fix lands."""

from __future__ import annotations

from typing import Any

from tests.support.dossier_fixtures import PDF

# POST /v1/dossiers/{id}/attachments checked visibility and the dossier's state before the Idempotency-Key, so a
# client retrying an upload whose 201 it lost got 409 attachments_closed once the dossier was submitted (404 once
# the draft was deleted), although the file was attached. A key that answered before is now read first.


async def _citizen_draft(client: Any, accounts: Any, dossiers: Any) -> tuple[Any, dict[str, Any]]:
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    return citizen, await dossiers.draft(client, citizen, code)


def _assert_replay_of(first: Any, again: Any) -> None:
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true"), again.text
    assert again.json() == first.json()


async def test_upload_replay_after_submit_is_the_first_answer(client: Any, accounts: Any, dossiers: Any) -> None:
    citizen, draft = await _citizen_draft(client, accounts, dossiers)
    key = {"Idempotency-Key": "upload-once-7c1f"}
    first = await dossiers.upload(client, citizen, draft["id"], headers=key)
    assert first.status_code == 201, first.text
    submitted = await dossiers.submit(client, citizen, draft["id"])
    assert submitted.status_code == 200, submitted.text

    again = await dossiers.upload(client, citizen, draft["id"], headers=key)  # the same part, file and name
    _assert_replay_of(first, again)


async def test_upload_replay_while_draft_is_the_first_answer(client: Any, accounts: Any, dossiers: Any) -> None:
    """The same retry while the dossier is still a draft is replayed (the contrast to the finding above)."""
    citizen, draft = await _citizen_draft(client, accounts, dossiers)
    key = {"Idempotency-Key": "upload-once-8d2e"}
    first = await dossiers.upload(client, citizen, draft["id"], content=PDF, headers=key)
    again = await dossiers.upload(client, citizen, draft["id"], content=PDF, headers=key)
    _assert_replay_of(first, again)
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert [a["id"] for a in listed.json()["items"]] == [first.json()["id"]]


async def test_a_closed_dossier_still_refuses_a_new_upload_under_an_answered_key(client: Any, accounts: Any,
                                                                                 dossiers: Any) -> None:
    citizen, draft = await _citizen_draft(client, accounts, dossiers)
    key = {"Idempotency-Key": "upload-once-9e3f"}
    assert (await dossiers.upload(client, citizen, draft["id"], content=PDF, headers=key)).status_code == 201
    assert (await dossiers.submit(client, citizen, draft["id"])).status_code == 200
    other = await dossiers.upload(client, citizen, draft["id"], content=PDF + b"%another", headers=key)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused"), other.text
    fresh = await dossiers.upload(client, citizen, draft["id"], content=PDF, headers={"Idempotency-Key": "new-1"})
    assert (fresh.status_code, fresh.json()["code"]) == (409, "attachments_closed"), fresh.text
    retried = await dossiers.upload(client, citizen, draft["id"], content=PDF, headers={"Idempotency-Key": "new-1"})
    assert (retried.status_code, retried.json()["code"]) == (409, "attachments_closed"), retried.text  # no claim kept
    listed = await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)
    assert len(listed.json()["items"]) == 1


async def test_upload_replay_after_the_draft_is_deleted_is_the_first_answer(client: Any, accounts: Any,
                                                                            dossiers: Any) -> None:
    citizen, draft = await _citizen_draft(client, accounts, dossiers)
    key = {"Idempotency-Key": "upload-once-a4b5"}
    first = await dossiers.upload(client, citizen, draft["id"], content=PDF, headers=key)
    read = await client.get(f"/v1/dossiers/{draft['id']}", headers=citizen.headers)
    deleted = await client.delete(f"/v1/dossiers/{draft['id']}",
                                  headers={**citizen.headers, "If-Match": read.headers["etag"]})
    assert deleted.status_code == 204, deleted.text
    again = await dossiers.upload(client, citizen, draft["id"], content=PDF, headers=key)
    _assert_replay_of(first, again)
    unkeyed = await dossiers.upload(client, citizen, draft["id"], content=PDF)
    assert unkeyed.status_code == 404, unkeyed.text

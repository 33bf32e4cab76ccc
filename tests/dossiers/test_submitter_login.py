"""How the submitter logged in is kept on the dossier at submission (the token's issuer and `acr`), in the submit's
own row update: for the national portal's `TaiKhoanDuocXacThucVoiVNeID`. Desk intake keeps nothing (an official's
login is not the applicant's). Internal: the dossier read does not show it (one schema for every viewer)."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.db import get_database
from app.dossiers.models import Dossier
from tests.support.dossier_fixtures import OPTIONAL_PARTS
from tests.support.idp import ISSUER
from tests.workflow.test_lists_paged import _statements

AGENCY = "000.00.12.H01"


async def _login_of(dossier_id: str) -> tuple[str | None, str | None]:
    async with get_database().read_sessions() as session:
        dossier = await session.get(Dossier, uuid.UUID(dossier_id))
        assert dossier is not None
        return dossier.submitter_issuer, dossier.submitter_acr


def _bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


async def test_an_online_submission_keeps_the_tokens_issuer_and_level(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, idp) -> None:
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert await _login_of(draft["id"]) == (None, None)  # a draft tells nothing yet
    token = idp.citizen_token(citizen.citizen_id, subject=citizen.subject, acr="urn:vneid:loa:2")
    with _statements() as seen:
        answer = await dossiers.submit(client, citizen, draft["id"], headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    assert await _login_of(draft["id"]) == (ISSUER, "urn:vneid:loa:2")
    # Written with the submit's own update of the row: no statement of its own.
    updates = [s for s in seen if s.lstrip().upper().startswith("UPDATE DOSSIERS ")]
    assert len(updates) == 1 and "submitter_issuer" in updates[0] and "submitter_acr" in updates[0]
    body: dict[str, Any] = answer.json()
    assert "authentication" not in body and "submitter_issuer" not in body and "submitter_acr" not in body


async def test_a_token_without_acr_keeps_the_issuer_alone(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    citizen = await accounts.citizen()  # its token carries no acr
    dossier = await dossiers.submitted(client, citizen, code)
    assert await _login_of(dossier["id"]) == (ISSUER, None)


async def test_a_representative_submission_keeps_the_representatives_login(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, idp) -> None:
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    organisation = await accounts.organisation()
    rep = await accounts.citizen()
    await accounts.representative(organisation, rep)
    on_behalf = {"X-On-Behalf-Of": str(organisation.id)}
    draft = await dossiers.draft(client, rep, code, headers=on_behalf)
    token = idp.citizen_token(rep.citizen_id, subject=rep.subject, acr="3")
    answer = await dossiers.submit(client, rep, draft["id"], headers=_bearer(token, **on_behalf))
    assert answer.status_code == 200, answer.text
    assert await _login_of(draft["id"]) == (ISSUER, "3")


async def test_desk_intake_keeps_no_login(client, accounts, dossiers, idp) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure(AGENCY, parts=OPTIONAL_PARTS)
    clerk = await accounts.official(AGENCY, ["reception"])
    token = idp.token(clerk.subject, acr="3")  # even an official's token with a level
    response = await client.post("/v1/dossiers/intake", headers=_bearer(token), json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "Bà Tư"},
        "submit": True})
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "submitted"
    assert await _login_of(response.json()["id"]) == (None, None)

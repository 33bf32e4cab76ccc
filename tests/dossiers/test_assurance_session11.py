"""Session 11 audit: submitting needs the level of assurance DVC_OIDC_REQUIRED_ACR names (403 `assurance_too_low`),
through the real app, and the submit operation documents that answer."""

from __future__ import annotations

import uuid

import pytest

from app.core.settings import get_settings

AGENCY = "000.00.12.H01"


@pytest.fixture
def required_acr(monkeypatch: pytest.MonkeyPatch) -> None:
    patched = get_settings().model_copy(update={"oidc_required_acr": "2"})
    monkeypatch.setattr("app.identity.deps.get_settings", lambda: patched)


def _bearer(idp, citizen, acr: str) -> dict[str, str]:
    token = idp.citizen_token(citizen.citizen_id, subject=citizen.subject, acr=acr)
    return {"Authorization": f"Bearer {token}"}


async def test_submit_with_a_low_assurance_token_is_403(client, accounts, dossiers, idp, required_acr):
    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert (await dossiers.upload(client, citizen, draft["id"], "application_form")).status_code == 201
    low = {**_bearer(idp, citizen, "1"), "Idempotency-Key": "submit-once"}

    refused = await client.post(f"/v1/dossiers/{draft['id']}/submit", headers=low)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "assurance_too_low"
    still = await client.get(f"/v1/dossiers/{draft['id']}", headers=citizen.headers)
    assert still.json()["state"] == "draft" and still.json()["code"] is None

    # Checked before the dossier is looked up: the caller's own token is too weak, which tells nothing.
    unknown = await client.post(f"/v1/dossiers/{uuid.uuid4()}/submit", headers=_bearer(idp, citizen, "1"))
    assert unknown.status_code == 403 and unknown.json()["code"] == "assurance_too_low"

    # The refusal released the Idempotency-Key: the same key with a strong enough login files the dossier.
    high = {**_bearer(idp, citizen, "2"), "Idempotency-Key": "submit-once"}
    submitted = await client.post(f"/v1/dossiers/{draft['id']}/submit", headers=high)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "submitted"


def test_submit_documents_assurance_too_low(app):
    operation = app.openapi()["paths"]["/v1/dossiers/{dossier_id}/submit"]["post"]
    assert "assurance_too_low" in operation["responses"]["403"]["x-problem-codes"]

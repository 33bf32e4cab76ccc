"""`TaiKhoanDuocXacThucVoiVNeID`: "1" when the dossier was filed online through a login from a VNeID issuer
(DVC_VNEID_ISSUERS) at DVC_VNEID_MIN_ACR or higher, "0" for any other login and for desk intake (TD's string
values; docs/national-portal.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.core.db import get_database
from app.dossiers.models import Dossier
from tests.integration.conftest import PortalKit
from tests.support.idp import ISSUER

VNEID = "TaiKhoanDuocXacThucVoiVNeID"


async def _filed_with(client: Any, accounts: Any, dossiers: Any, idp: Any, acr: str | None) -> str:
    """A citizen's dossier submitted with a token carrying `acr` (None: no acr claim)."""
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    assert (await dossiers.upload(client, citizen, draft["id"])).status_code == 201
    token = idp.citizen_token(citizen.citizen_id, subject=citizen.subject, acr=acr)
    answer = await dossiers.submit(client, citizen, draft["id"], headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return str(draft["id"])


async def _login_of(dossier_id: str) -> tuple[str | None, str | None]:
    async with get_database().read_sessions() as session:
        dossier = await session.get(Dossier, uuid.UUID(dossier_id))
        assert dossier is not None
        return dossier.submitter_issuer, dossier.submitter_acr


@pytest.mark.parametrize(("issuers", "min_acr", "acr", "told"), [
    (ISSUER, "", None, "1"),  # the token's issuer is a VNeID one
    (f"https://vneid.example.vn, {ISSUER}", "", "1", "1"),  # one of several
    ("https://vneid.example.vn", "", "2", "0"),  # another issuer
    ("", "", "2", "0"),  # none configured: no login counts
    (ISSUER, "2", "2", "1"),  # the level asked for
    (ISSUER, "2", "3", "1"),  # higher
    (ISSUER, "2", "1", "0"),  # lower
    (ISSUER, "2", None, "0"),  # no level at all
], ids=["vneid", "one_of_several", "other_issuer", "none_configured", "level_met", "level_above", "level_below",
        "level_missing"])
async def test_the_record_tells_whether_the_submitter_logged_in_with_vneid(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, idp, settings_env, portal: PortalKit,
        issuers: str, min_acr: str, acr: str | None, told: str) -> None:
    did = await _filed_with(client, accounts, dossiers, idp, acr)
    assert await _login_of(did) == (ISSUER, acr)  # kept as the token said, whatever the settings
    settings_env(DVC_VNEID_ISSUERS=issuers, DVC_VNEID_MIN_ACR=min_acr)
    await portal.run()
    [record] = portal.fake.accepted
    assert record[VNEID] == told


async def test_desk_intake_was_no_applicant_login(  # type: ignore[no-untyped-def]
        client, accounts, dossiers, settings_env, portal: PortalKit) -> None:
    settings_env(DVC_VNEID_ISSUERS=ISSUER)  # the official's token comes from the VNeID issuer too
    code = await dossiers.procedure("000.00.12.H01")
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    intake = await client.post("/v1/dossiers/intake", headers=clerk.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "Bà Tư"}})
    assert intake.status_code == 201, intake.text
    did = intake.json()["id"]
    assert (await dossiers.upload(client, clerk, did)).status_code == 201
    assert (await dossiers.submit(client, clerk, did)).status_code == 200
    assert await _login_of(did) == (None, None)
    await portal.run()
    [record] = portal.fake.accepted
    assert record[VNEID] == "0" and record["KenhThucHien"] == "1"

"""What the seeded contract fuzz (test_schemathesis_seeded.py) found, one regression test each."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.dossier_fixtures import PNG, Dossiers
from tests.support.identity_fixtures import Accounts


def _documented(app: Any, method: str, path: str, status: str) -> set[str]:
    return set(app.openapi()["paths"][path][method]["responses"][status].get("content", {}))


async def test_an_attachment_is_served_in_a_documented_media_type(client: httpx.AsyncClient, app: Any,
                                                                   accounts: Accounts, dossiers: Dossiers) -> None:
    """The spec documented application/octet-stream alone for a file's content: every PDF or image came back in a
    media type the contract did not list (schemathesis ST105)."""
    code = await dossiers.procedure()
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    documented = _documented(app, "get", "/v1/dossiers/{dossier_id}/attachments/{attachment_id}/content", "200")
    for part, content, name in (("application_form", None, "don.pdf"), ("id_copy", PNG, "anh.png")):
        kwargs = {"content": content} if content is not None else {}
        upload = await dossiers.upload(client, citizen, draft["id"], part, file_name=name, **kwargs)
        assert upload.status_code == 201, upload.text
        response = await client.get(f"/v1/dossiers/{draft['id']}/attachments/{upload.json()['id']}/content",
                                    headers=citizen.headers)
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] in documented, response.headers["content-type"]


async def test_a_provider_not_set_up_here_is_refused_as_not_offered(client: httpx.AsyncClient, accounts: Accounts,
                                                                   dossiers: Dossiers) -> None:
    """Paying with VNPAY where it is not configured answered 503 payment_provider_unavailable ("try later", naming
    our settings): no retry changes a deployment's set-up, so it is the payer's 422, and another provider works."""
    from tests.fees.conftest import Fees

    fees = Fees(accounts, dossiers)
    case = await fees.case(client)
    await fees.request_payment(client, case)
    refused = await fees.pay_response(client, case, provider="vnpay")
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["type"] == "provider_not_offered"
    assert "DVC_" not in refused.text
    assert (await fees.pay_response(client, case)).status_code == 201

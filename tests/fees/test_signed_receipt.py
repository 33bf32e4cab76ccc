"""An electronic fee receipt (biên lai) is valid only signed by the unit that issues it: fetched as PDF, it carries
one PAdES signature by the configured key, in the collecting agency's name, chained to its CA, covering the whole
file; without a key it is issued unsigned, as before."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fees.conftest import Fees
from tests.support.identity_fixtures import DEFAULT_AGENCY
from tests.workflow.pki import (
    configure_document_signing,
    issued_signature,
    reason,
    signature_count,
    signing_key_upload,
)

PDF = {"Accept": "application/pdf"}


async def test_the_receipt_is_signed_by_the_collecting_agency(client: httpx.AsyncClient, fees: Fees, settings_env,
                                                              tmp_path: Path) -> None:
    case, attempt = await fees.paid_case(client)
    url = f"/v1/payments/{attempt['id']}/receipt"
    unsigned = await client.get(url, headers={**case.citizen.headers, **PDF})
    assert unsigned.status_code == 200 and signature_count(unsigned.content) == 0

    pki = configure_document_signing(settings_env, tmp_path, signer_name="Kế toán Sở Thử Nghiệm")
    agency = (await client.get(url, headers=case.citizen.headers)).json()["agency"]["name"]
    signed = await client.get(url, headers={**case.citizen.headers, **PDF})
    assert signed.status_code == 200 and signed.headers["content-type"] == "application/pdf"
    info = await issued_signature(signed.content, pki.ca_path)
    assert "Kế toán Sở Thử Nghiệm" in info.signer and "Test Root CA" in info.issuer
    assert reason(signed.content) == f"Văn bản điện tử do {agency} phát hành"
    # The finance official prints the same receipt, signed the same way.
    printed = await client.get(url, headers={**case.finance.headers, **PDF})
    assert (await issued_signature(printed.content, pki.ca_path)).signer == info.signer


async def test_the_receipt_is_signed_with_the_agencys_own_key(client: httpx.AsyncClient, fees: Fees, settings_env,
                                                             tmp_path: Path) -> None:
    """An agency with its own key signs its receipts with it, over the deployment's key."""
    (tmp_path / "deployment").mkdir()
    deployment = configure_document_signing(settings_env, tmp_path / "deployment", signer_name="Khóa Triển Khai")
    own, upload = signing_key_upload(tmp_path / "own", "Kế toán Sở Có Khóa Riêng")
    settings_env(DVC_SIGNATURE_TRUST_ROOTS=f"{deployment.ca_path},{own.ca_path}")
    case, attempt = await fees.paid_case(client)
    url = f"/v1/payments/{attempt['id']}/receipt"
    before = await client.get(url, headers={**case.citizen.headers, **PDF})
    assert "Khóa Triển Khai" in (await issued_signature(before.content, deployment.ca_path)).signer

    admin = await fees.accounts.admin()
    put = await client.put(f"/v1/agencies/{DEFAULT_AGENCY}/signing-key", headers=admin.headers, json=upload)
    assert put.status_code == 200, put.text
    signed = await client.get(url, headers={**case.citizen.headers, **PDF})
    assert signed.status_code == 200 and signed.headers["content-type"] == "application/pdf"
    info = await issued_signature(signed.content, own.ca_path)
    assert "Kế toán Sở Có Khóa Riêng" in info.signer and "Test Root CA" in info.issuer

"""POST /v1/integration/dossiers: dossiers forwarded by the national portal."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.integration import intake
from tests.integration.conftest import PUBLIC_IP, FakeDns, PortalKit, receive
from tests.support.dossier_fixtures import PDF, PNG
from tests.support.identity_fixtures import DEFAULT_AGENCY, random_citizen_id

BIG = 70 * 1024  # over id_copy's 64 KiB limit


def _file_server() -> Starlette:
    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "don.pdf":
            return Response(PDF, media_type="application/pdf")
        if name == "anh.png":
            return Response(PNG, media_type="image/png")
        if name == "huge.pdf":  # no Content-Length: the limit must be enforced while streaming
            async def chunks() -> Any:
                yield PDF
                for _ in range(BIG // 4096 + 1):
                    yield b"\0" * 4096
            return StreamingResponse(chunks(), media_type="application/pdf")
        return Response(status_code=404)

    return Starlette(routes=[Route("/files/{name}", serve)])


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch, dns: FakeDns) -> FakeDns:
    """Attachment URLs on files.portal.example (a public address) are served by a local ASGI app."""
    monkeypatch.setattr(intake, "fetch_transport", httpx.ASGITransport(app=_file_server()))
    dns.set("files.portal.example", PUBLIC_IP)
    dns.set("intranet.portal.example", "10.1.2.3")
    return dns


def _body(code: str, national_id: str = "G22.99-250101-0001", **overrides: Any) -> dict[str, Any]:
    return {"national_dossier_id": national_id, "procedure_code": code,
            "applicant": {"citizen_id": random_citizen_id(), "name": "Lê Văn Cường", "email": "cuong@example.vn"},
            "form": {}, "attachments": [{"part": "application_form", "file_name": "don.pdf",
                                         "content_base64": base64.b64encode(PDF).decode()}], **overrides}


async def _syncer(accounts: Any, agency: str = DEFAULT_AGENCY) -> Any:
    return await accounts.client(["dossiers:sync", "dossiers:read"], [agency])


async def test_a_forwarded_dossier_is_submitted_once(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    syncer = await _syncer(accounts)
    body = _body(code)
    created = await client.post("/v1/integration/dossiers", json=body, headers=syncer.headers)
    assert created.status_code == 201, created.text
    dossier = created.json()
    assert created.headers["location"] == f"/v1/dossiers/{dossier['id']}"
    assert (dossier["state"], dossier["channel"], dossier["source"]) == ("submitted", "online", "national_portal")
    assert dossier["code"].startswith(DEFAULT_AGENCY) and dossier["national_status_code"] == 1
    assert dossier["contact"]["email"] == "cuong@example.vn"
    again = await client.post("/v1/integration/dossiers", json=body, headers=syncer.headers)
    assert again.status_code == 200 and again.json()["id"] == dossier["id"]
    read = await client.get(f"/v1/dossiers/{dossier['id']}", headers=syncer.headers)
    assert created.headers.get("etag") == again.headers.get("etag") == read.headers["etag"]  # one version, one tag
    listed = await client.get(f"/v1/dossiers/{dossier['id']}/attachments", headers=syncer.headers)
    assert [(a["part"], a["media_type"]) for a in listed.json()["items"]] == [("application_form", "application/pdf")]
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    history = await client.get(f"/v1/dossiers/{dossier['id']}/history", headers=reception.headers)
    assert history.status_code == 200 and history.json()["items"][0]["action"] == "submit"


async def test_concurrent_deliveries_of_one_national_id_make_one_dossier(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    syncer = await _syncer(accounts)
    body = _body(code, "G22-RACE-1")
    answers = await asyncio.gather(*(client.post("/v1/integration/dossiers", json=body, headers=syncer.headers)
                                     for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1


async def test_url_attachments_are_fetched_under_the_limits(client, accounts, dossiers, files) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    syncer = await _syncer(accounts)
    attachments = [{"part": "application_form", "url": "https://files.portal.example/files/don.pdf"},
                   {"part": "id_copy", "url": "https://files.portal.example/files/anh.png", "file_name": "cccd.png"}]
    created = await client.post("/v1/integration/dossiers", json=_body(code, attachments=attachments),
                                headers=syncer.headers)
    assert created.status_code == 201, created.text
    listed = await client.get(f"/v1/dossiers/{created.json()['id']}/attachments", headers=syncer.headers)
    assert sorted((a["file_name"], a["media_type"]) for a in listed.json()["items"]) == [
        ("cccd.png", "image/png"), ("don.pdf", "application/pdf")]


@pytest.mark.parametrize(("attachment", "status", "code"), [
    ({"part": "id_copy", "url": "https://files.portal.example/files/huge.pdf"}, 413, "file_too_large"),
    ({"part": "application_form", "url": "https://files.portal.example/files/anh.png"}, 415,
     "media_type_not_allowed"),
    ({"part": "id_copy", "file_name": "big.pdf", "content_base64": base64.b64encode(PDF + b"\0" * BIG).decode()},
     413, "file_too_large"),
    ({"part": "application_form", "url": "https://files.portal.example/files/missing.pdf"}, 422, "validation_error"),
    ({"part": "application_form", "url": "https://intranet.portal.example/files/don.pdf"}, 422, "validation_error"),
    ({"part": "application_form", "url": "http://127.0.0.1:8000/files/don.pdf"}, 422, "validation_error"),
    ({"part": "application_form", "url": "http://169.254.169.254/latest/meta-data/"}, 422, "validation_error"),
    ({"part": "application_form", "url": "file:///etc/passwd"}, 422, "validation_error"),
    ({"part": "unknown", "file_name": "x.pdf", "content_base64": base64.b64encode(PDF).decode()}, 422,
     "validation_error"),
])
async def test_bad_attachments_are_refused(client, accounts, dossiers, files, attachment: dict[str, Any],  # type: ignore[no-untyped-def]
                                           status: int, code: str) -> None:
    procedure = await dossiers.procedure()
    syncer = await _syncer(accounts)
    attachments = [{"part": "application_form", "file_name": "don.pdf",
                    "content_base64": base64.b64encode(PDF).decode()}, attachment]
    response = await client.post("/v1/integration/dossiers", json=_body(procedure, attachments=attachments),
                                 headers=syncer.headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if status == 422 and "url" in attachment and not attachment["url"].startswith("file:"):
        assert response.json()["errors"][0]["loc"] == ["body", "attachments", 1, "url"]
    # nothing was created: the same national id is still free
    retry = await client.post("/v1/integration/dossiers", json=_body(procedure), headers=syncer.headers)
    assert retry.status_code == 201


async def test_who_may_forward(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    other_agency = await _syncer(accounts, "000.00.77.H01")
    reader = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    citizen = await accounts.citizen()
    body = _body(code)
    assert (await client.post("/v1/integration/dossiers", json=body,
                              headers=other_agency.headers)).json()["code"] == "forbidden_role"
    assert (await client.post("/v1/integration/dossiers", json=body,
                              headers=reader.headers)).json()["code"] == "scope_missing"
    assert (await client.post("/v1/integration/dossiers", json=body, headers=citizen.headers)).status_code == 403


async def test_a_national_id_replays_the_dossier_only_to_who_may_read_it(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    """The replay answers the whole dossier (applicant, CCCD, form): another `dossiers:sync`-only client of the
    agency, which may not read the agency's dossiers, gets 409 `conflict`, not the dossier, for a national id it
    did not forward; the client that forwarded it, and one holding `dossiers:read`, get it again."""
    code = await dossiers.procedure()
    forwarder = await accounts.client(["dossiers:sync"], [DEFAULT_AGENCY])
    body = _body(code, "G22-REPLAY-1")
    created = await client.post("/v1/integration/dossiers", json=body, headers=forwarder.headers)
    assert created.status_code == 201, created.text
    dossier_id = created.json()["id"]
    # The Location names a dossier its forwarder can read (a sync-only client sees what it forwarded, no more).
    located = await client.get(created.headers["location"], headers=forwarder.headers)
    assert located.status_code == 200 and located.json()["id"] == dossier_id
    mine = await client.get("/v1/dossiers", headers=forwarder.headers)
    assert [d["id"] for d in mine.json()["items"]] == [dossier_id]
    other_syncer = await accounts.client(["dossiers:sync"], [DEFAULT_AGENCY])
    assert (await client.get(f"/v1/dossiers/{dossier_id}", headers=other_syncer.headers)).status_code == 404
    assert (await client.get("/v1/dossiers", headers=other_syncer.headers)).json()["items"] == []
    refused = await client.post("/v1/integration/dossiers", json=body, headers=other_syncer.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "conflict", refused.text
    assert body["applicant"]["citizen_id"] not in refused.text
    again = await client.post("/v1/integration/dossiers", json=body, headers=forwarder.headers)
    assert again.status_code == 200 and again.json()["id"] == dossier_id
    reader = await _syncer(accounts)  # dossiers:read too: it reads this dossier anyway
    replayed = await client.post("/v1/integration/dossiers", json=body, headers=reader.headers)
    assert replayed.status_code == 200 and replayed.json()["id"] == dossier_id


async def test_required_parts_and_form_are_checked(client, accounts, dossiers) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    syncer = await _syncer(accounts)
    missing = await client.post("/v1/integration/dossiers", json=_body(code, attachments=[]), headers=syncer.headers)
    assert missing.status_code == 422 and missing.json()["code"] == "documents_missing"
    both = _body(code)
    both["applicant"]["tax_code"] = "0101234567"
    assert (await client.post("/v1/integration/dossiers", json=both, headers=syncer.headers)).status_code == 422


async def test_status_changes_sync_back_under_the_national_id(client, accounts, dossiers, portal: PortalKit) -> None:  # type: ignore[no-untyped-def]
    code = await dossiers.procedure()
    syncer = await _syncer(accounts)
    created = (await client.post("/v1/integration/dossiers", json=_body(code, "G22-BACK-7"),
                                 headers=syncer.headers)).json()
    reception = await accounts.official(DEFAULT_AGENCY, ["reception"])
    await receive(client, reception, created["id"])
    await portal.run()
    assert [(r["MaHoSo"], r["MaHoSoTinh"], r["TrangThaiHoSo"]) for r in portal.fake.accepted] == [
        ("G22-BACK-7", created["code"], "1"), ("G22-BACK-7", created["code"], "2")]
    view = await client.get(f"/v1/dossiers/{created['id']}/sync", headers=syncer.headers)
    assert view.json()["national_dossier_id"] == "G22-BACK-7" and view.json()["last_synced_code"] == 2

"""Published procedures (through the catalogue services) and dossiers (through the HTTP API) for tests.

    async def test_something(client, accounts, dossiers):
        code = await dossiers.procedure()
        citizen = await accounts.citizen()
        draft = await dossiers.draft(client, citizen, code)
        await dossiers.upload(client, citizen, draft["id"], "application_form")
        submitted = await dossiers.submit(client, citizen, draft["id"])
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from tests.support.catalogue_fixtures import Editor
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts, Actor

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 64
_counter = itertools.count(1)

DEFAULT_PARTS: list[dict[str, Any]] = [
    {"key": "application_form", "name": "Đơn đề nghị", "required": True, "media_types": ["application/pdf"]},
    {"key": "id_copy", "name": "Bản sao giấy tờ", "required": False,
     "media_types": ["application/pdf", "image/jpeg", "image/png"], "max_bytes": 64 * 1024},
]
OPTIONAL_PARTS: list[dict[str, Any]] = [
    {"key": "other", "name": "Giấy tờ khác", "required": False, "media_types": ["application/pdf"]},
]


class Dossiers:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.parts: dict[str, list[dict[str, Any]]] = {}

    async def procedure(self, agency_code: str = DEFAULT_AGENCY, *, parts: list[dict[str, Any]] | None = None,
                        form_schema: dict[str, Any] | None = None, channels: tuple[str, ...] = ("online", "desk",
                        "post"), applicant_kinds: tuple[str, ...] = ("citizen", "organisation"),
                        name: str | None = None, **version_fields: Any) -> str:
        """A published procedure of `agency_code`, with any other version fields given (processing_days,
        fee_items, result, ...); returns its code."""
        from app.catalogue import service, versions
        from app.catalogue.schemas import FieldIn, ProcedureCreate
        from app.core.db import get_database

        await self.accounts.ensure_agency(agency_code)
        n = next(_counter)
        code = f"1.{n:06d}.{uuid.uuid4().hex[:6]}"
        field_code = f"field-{uuid.uuid4().hex[:8]}"
        editor = Editor()
        async with get_database().write_sessions() as session, session.begin():
            await service.create_field(session, editor, FieldIn(code=field_code, name="Tiêu chuẩn đo lường"))
            data = ProcedureCreate.model_validate({
                "code": code, "name": name or f"Thủ tục thử {n}", "agency_code": agency_code,
                "field_code": field_code, "online_level": "full", "applicant_kinds": list(applicant_kinds),
                "channels": list(channels), "processing_days": 10,
                "document_parts": parts if parts is not None else DEFAULT_PARTS,
                "result": {"name": "Giấy chứng nhận"}, "form_schema": form_schema, **version_fields})
            version = await versions.create_procedure(session, editor, data)
            await versions.publish(session, editor, code, version.version, if_match=versions.version_etag(version))
        self.parts[code] = parts if parts is not None else DEFAULT_PARTS
        return code

    async def draft(self, client: Any, actor: Actor, procedure_code: str, *, form: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        response = await client.post("/v1/dossiers", headers={**actor.headers, **(headers or {})},
                                     json={"procedure_code": procedure_code, "form": form or {}, **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def upload(self, client: Any, actor: Actor, dossier_id: str, part: str = "application_form",
                     content: bytes = PDF, file_name: str = "don.pdf",
                     headers: dict[str, str] | None = None) -> Any:
        return await client.post(f"/v1/dossiers/{dossier_id}/attachments",
                                 headers={**actor.headers, **(headers or {})},
                                 data={"part": part}, files={"file": (file_name, content, "application/pdf")})

    async def submit(self, client: Any, actor: Actor, dossier_id: str,
                     headers: dict[str, str] | None = None) -> Any:
        return await client.post(f"/v1/dossiers/{dossier_id}/submit", headers={**actor.headers, **(headers or {})})

    async def submitted(self, client: Any, actor: Actor, procedure_code: str, **kwargs: Any) -> dict[str, Any]:
        """A draft with a PDF for each required part, submitted."""
        draft = await self.draft(client, actor, procedure_code, **kwargs)
        for part in self.parts.get(procedure_code, DEFAULT_PARTS):
            if part.get("required", True):
                upload = await self.upload(client, actor, draft["id"], part["key"])
                assert upload.status_code == 201, upload.text
        response = await self.submit(client, actor, draft["id"])
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def dossiers(accounts: Accounts) -> Dossiers:
    return Dossiers(accounts)

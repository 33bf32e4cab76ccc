"""Catalogue rows for tests, written through the catalogue services.

    async def test_something(catalogue):
        await catalogue.agency("A1")
        await catalogue.field("F1", agency_code="A1")
        code = await catalogue.procedure("P1", agency_code="A1", field_code="F1")   # published version 1

For thousands of procedures (benchmarks) use app.catalogue.generate.generate_procedures(session, n).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Editor:
    """A caller as the catalogue sees it (app.catalogue.service.Editor); system_admin by default."""

    kind: str = "official"
    agency_code: str | None = None
    roles: frozenset[str] = frozenset({"system_admin"})
    scopes: frozenset[str] = frozenset()
    agency_codes: frozenset[str] = frozenset()

    @property
    def is_system_admin(self) -> bool:
        return self.kind == "official" and "system_admin" in self.roles


ADMIN = Editor()


def agency_admin(agency_code: str) -> Editor:
    return Editor(agency_code=agency_code, roles=frozenset({"agency_admin"}))


def procedure_body(code: str, agency_code: str = "A1", field_code: str = "F1", **overrides: Any) -> dict[str, Any]:
    """A valid POST /v1/procedures body; overrides replace top-level keys."""
    body: dict[str, Any] = {
        "code": code,
        "name": f"Cấp giấy phép thử nghiệm {code}",
        "agency_code": agency_code,
        "field_code": field_code,
        "online_level": "full",
        "applicant_kinds": ["citizen"],
        "channels": ["online", "desk"],
        "processing_days": 10,
        "document_parts": [{"key": "don", "name": "Đơn đề nghị", "media_types": ["application/pdf"]}],
        "fee_items": [{"kind": "fee", "name": "Lệ phí", "amount": 50000, "due": "before_processing"}],
        "result": {"name": "Giấy phép"},
    }
    body.update(overrides)
    return body


class Catalogue:
    @staticmethod
    def session() -> Any:
        from app.core.db import get_database

        return get_database().write_sessions()

    async def agency(self, code: str = "A1", name: str | None = None, *, parent_code: str | None = None,
                     level: str = "department") -> str:
        from app.catalogue import service
        from app.catalogue.schemas import AgencyIn

        async with self.session() as session, session.begin():
            if await service.get_agency(session, code) is None:
                await service.create_agency(session, ADMIN, AgencyIn(
                    code=code, name=name or f"Sở thử nghiệm {code}", parent_code=parent_code, level=level))
        return code

    async def field(self, code: str = "F1", name: str = "Tiêu chuẩn, đo lường, chất lượng", *,
                    agency_code: str | None = None) -> str:
        from app.catalogue import service
        from app.catalogue.schemas import FieldIn

        async with self.session() as session, session.begin():
            if await service.get_field(session, code) is None:
                await service.create_field(session, ADMIN, FieldIn(code=code, name=name, agency_code=agency_code))
        return code

    async def procedure(self, code: str, *, publish: bool = True, agency_code: str = "A1", field_code: str = "F1",
                        **overrides: Any) -> str:
        """Create agency/field when missing, then the procedure (draft v1, published unless publish=False)."""
        from app.catalogue import versions
        from app.catalogue.schemas import ProcedureCreate

        await self.agency(agency_code)
        await self.field(field_code)
        data = ProcedureCreate.model_validate(procedure_body(code, agency_code, field_code, **overrides))
        async with self.session() as session, session.begin():
            version = await versions.create_procedure(session, ADMIN, data)
            if publish:
                await versions.publish(session, ADMIN, code, version.version,
                                       if_match=versions.version_etag(version))
        return code

    async def draft(self, code: str, **changes: Any) -> int:
        """A new draft of `code` with `changes` applied; returns its number."""
        from app.catalogue import versions
        from app.catalogue.schemas import VersionPatch

        async with self.session() as session, session.begin():
            version = await versions.new_draft(session, ADMIN, code)
            if changes:
                await versions.patch_draft(session, ADMIN, code, version.version, VersionPatch(**changes), "*")
            return version.version


@pytest.fixture
def catalogue(database_url: str) -> Catalogue:
    return Catalogue()

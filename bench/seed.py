"""Seeding helpers shared by scenarios and scripts: a published procedure through the catalogue services,
citizens registered through the API, and many copies of one API-made dossier row (set-based SQL).

Copies keep every column of a row the app itself wrote (drafts, submitted dossiers), so a scenario that needs
thousands of distinct targets measures the same rows the API would have made, without thousands of requests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class SystemEditor:
    """Stands in for a system admin when bench set-up calls the catalogue services directly."""

    kind: str = "official"
    agency_code: str | None = None
    roles: frozenset[str] = frozenset({"system_admin"})
    scopes: frozenset[str] = frozenset()
    agency_codes: frozenset[str] = frozenset()

    @property
    def is_system_admin(self) -> bool:
        return True


AGENCY_NAME = "Sở Tư pháp"


async def publish_procedure(session: Any, document_parts: list[dict[str, Any]], *,
                            processing_days: int = 5) -> tuple[str, Any]:
    """In `session`: an agency, a field and a published citizen procedure (online, full level) with these
    document parts. Returns (agency_code, the published ProcedureVersion)."""
    from app.catalogue import service, versions
    from app.catalogue.models import Agency, AgencyLevel
    from app.catalogue.schemas import FieldIn, ProcedureCreate

    agency, code, field = f"BENCH.{uuid.uuid4().hex[:6]}", f"9.{uuid.uuid4().hex[:8]}", f"f{uuid.uuid4().hex[:8]}"
    session.add(Agency(code=agency, name=AGENCY_NAME, level=AgencyLevel.department))
    await session.flush()
    await service.create_field(session, SystemEditor(), FieldIn(code=field, name="Hộ tịch"))
    data: dict[str, Any] = {
        "code": code, "name": "Cấp bản sao trích lục (bench)", "agency_code": agency, "field_code": field,
        "online_level": "full", "applicant_kinds": ["citizen"], "channels": ["online"],
        "processing_days": processing_days, "document_parts": document_parts, "result": {"name": "Bản sao trích lục"}}
    version = await versions.create_procedure(session, SystemEditor(), ProcedureCreate.model_validate(data))
    await versions.publish(session, SystemEditor(), code, version.version,
                           if_match=versions.version_etag(version))
    return agency, version


async def procedure(dsn: str, document_parts: list[dict[str, Any]]) -> tuple[str, str]:
    """`publish_procedure` in its own transaction on the bench database: (agency_code, procedure_code)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            agency, version = await publish_procedure(session, document_parts)
            code = str(version.procedure_code)
    finally:
        await engine.dispose()
    return agency, code


async def register_citizen(ctx: Any, citizen_id: str) -> dict[str, str]:
    """Register a citizen through the API; returns its bearer headers."""
    headers = ctx.identity.bearer(ctx.identity.citizen_token(citizen_id))
    answer = await ctx.http.post("/v1/accounts", headers=headers, json={"email": f"c{citizen_id}@bench.vn"})
    if answer.status_code != 201:
        raise RuntimeError(f"registering citizen {citizen_id}: {answer.status_code} {answer.text[:300]}")
    return dict(headers)


async def copy_dossier(dsn: str, dossier_id: str, count: int, *, code_prefix: str | None = None) -> list[str]:
    """`count` copies of one dossier row with new ids (and, if the row has a code, codes
    `<code_prefix>-<n>`); returns the new ids, or the new codes when `code_prefix` is given."""
    connection = await asyncpg.connect(dsn)
    try:
        columns = [row["column_name"] for row in await connection.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'dossiers'"
            " AND table_schema = current_schema() ORDER BY ordinal_position")]
        others = [c for c in columns if c not in ("id", "code")]
        code = "$3 || '-' || lpad(n::text, 7, '0')" if code_prefix else "code"
        rows = await connection.fetch(
            f"INSERT INTO dossiers (id, code, {', '.join(others)})"
            f" SELECT gen_random_uuid(), {code}, {', '.join(others)} FROM dossiers, generate_series(1, $2) AS n"
            f" WHERE id = $1::uuid RETURNING id, code",
            *((dossier_id, count, code_prefix) if code_prefix else (dossier_id, count)))
        return [str(r["code"]) for r in rows] if code_prefix else [str(r["id"]) for r in rows]
    finally:
        await connection.close()

"""What a procedure version holds, how it is shown and how it is written: its content fields, the status and ETag
of its answer, the stored form of a content model, the checks of what it refers to, and the search columns kept
with it. The lifecycle (draft, publish, retire, cancel, delete) is app.catalogue.versions."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import schemas
from app.catalogue.models import ProcedureVersion, VersionStatus
from app.catalogue.service import field_error, get_agency, get_field, search_extra_for
from app.catalogue.text import search_column
from app.core import clock
from app.core.settings import get_settings

CONTENT_FIELDS = tuple(schemas.ProcedureContent.model_fields)


def content_of(version: ProcedureVersion) -> dict[str, Any]:
    """A version's content as plain JSON-able data, in the order of ProcedureContent."""
    return {name: getattr(version, name) for name in CONTENT_FIELDS}


def shown_status(version: ProcedureVersion, now: datetime | None = None) -> VersionStatus:
    """The status as of now. Publishing from a future valid_from stores the predecessor as retired at once (the
    partial unique index allows one published row), but it stays in force until its valid_to (live_clause):
    until then it is shown published, like the version that will replace it."""
    moment = clock.now() if now is None else now
    if version.status == VersionStatus.retired and version.valid_to is not None and version.valid_to > moment:
        return VersionStatus.published
    return version.status


def to_out(version: ProcedureVersion) -> schemas.ProcedureOut:
    out = schemas.ProcedureOut(code=version.procedure_code, version=version.version, status=shown_status(version),
                               valid_from=version.valid_from, valid_to=version.valid_to,
                               published_at=version.published_at, **content_of(version))
    out.announcement_warnings = schemas.announcement_warnings(out.announcement)
    return out


def etag_of(out: schemas.ProcedureOut) -> str:
    digest = hashlib.sha256(out.model_dump_json().encode()).hexdigest()[:32]
    return f'"{out.code}-v{out.version}-{digest}"'


def resolved_content(content: schemas.ProcedureContent) -> dict[str, Any]:
    """Stored form of a content model: defaults resolved, nested models as dicts."""
    data = content.model_dump(mode="json", include=set(CONTENT_FIELDS))
    for name in CONTENT_FIELDS:  # an import entry leaves out what is unset (None, False): compared as stored
        data.setdefault(name, getattr(content, name))
    if data["clock_on_supplement"] is None:
        data["clock_on_supplement"] = get_settings().clock_on_supplement_default
    return data


def _facets(data: dict[str, Any]) -> str:
    tags = [f"channel:{c}" for c in data["channels"]] + [f"applicant:{k}" for k in data["applicant_kinds"]]
    return f" {' '.join(tags)} "


async def check_references(session: AsyncSession, data: dict[str, Any], loc: list[str | int],
                           ) -> list[dict[str, Any]]:
    """Agency and field must exist, a field scoped to an agency serves only that agency, and fees due before
    processing need a workflow that requests them."""
    errors = []
    agency = await get_agency(session, data["agency_code"])
    if agency is None:
        errors.append(field_error([*loc, "agency_code"], f"unknown agency {data['agency_code']!r}"))
    field = await get_field(session, data["field_code"])
    if field is None:
        errors.append(field_error([*loc, "field_code"], f"unknown field {data['field_code']!r}"))
    elif agency is not None and field.agency_code is not None and field.agency_code != data["agency_code"]:
        errors.append(field_error([*loc, "field_code"],
                                  f"field {field.code!r} belongs to agency {field.agency_code!r}"))
    return errors + rule_problems(data, loc)


def rule_problems(data: dict[str, Any], loc: list[str | int]) -> list[dict[str, Any]]:
    """What today's rules refuse in new content (created, edited, published or imported as a new version): the
    workflow's (workflow_problems) and an announcing decision dated in the future. A version already recorded is
    not held to them again (app.catalogue.importer)."""
    errors = workflow_problems(data, loc)
    signed = schemas.announcement_problem(data.get("announcement"), clock.local(clock.now()).date())
    if signed:
        errors.append(field_error([*loc, "announcement", "decision_date"], signed))
    return errors


def workflow_problems(data: dict[str, Any], loc: list[str | int]) -> list[dict[str, Any]]:
    """What the content's workflow refuses: fee stages it has no step for, allowances for steps it lacks, and
    allowances that add up to more than the processing time."""
    errors = []
    stages = schemas.fee_stage_problem(data["workflow"], data["fee_items"])
    if stages:
        errors.append(field_error([*loc, "fee_items"], stages))
    steps = schemas.step_limit_problem(data["workflow"], data["step_time_limits"])
    if steps:
        errors.append(field_error([*loc, "step_time_limits"], steps))
    total = schemas.step_total_problem(data["processing_days"], data["step_time_limits"],
                                       get_settings().working_minutes_per_day)
    if total:
        errors.append(field_error([*loc, "step_time_limits"], total))
    return errors


async def write_content(session: AsyncSession, version: ProcedureVersion, data: dict[str, Any]) -> None:
    for name, value in data.items():
        setattr(version, name, value)
    version.search_name = search_column(data["name"])
    version.search_extra = await search_extra_for(session, data["agency_code"], data["field_code"])
    version.facets = _facets(data)

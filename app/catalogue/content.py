"""What a procedure version holds, how it is shown and how it is written: its content fields, the status and ETag
of its answer, the stored form of a content model, the checks of what it refers to, and the search columns kept
with it. The lifecycle (draft, publish, retire, cancel, delete) is app.catalogue.versions."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
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
    out.announcement_warnings = announcement_warnings(out.announcement)
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
    signed = announcement_problem(data.get("announcement"), clock.local(clock.now()).date())
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
    total = step_total_problem(data["processing_days"], data["step_time_limits"],
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


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


def _plural(n: float, word: str) -> str:
    return f"{_number(n)} {word}{'' if n == 1 else 's'}"


def step_total_problem(processing_days: int, step_time_limits: list[dict[str, Any]], minutes_per_day: int,
                       ) -> str | None:
    """The steps' allowances together must fit in the processing time: an internal process whose steps add up
    to more than the version's processing days promises its officials time the law does not give the agency,
    and a dossier whose every step is on time is then late. An allowance in hours counts working hours, so
    `minutes_per_day` of them make a working day (8 hours by default, as app.workflow.steps counts them)."""
    spent, total = [], 0
    for limit in step_time_limits:
        days, hours = limit.get("working_days"), limit.get("hours")
        if days is not None:
            total += int(days) * minutes_per_day
            spent.append(f"{limit.get('step')} {_plural(days, 'working day')}")
        elif hours is not None:
            total += int(hours) * 60
            spent.append(f"{limit.get('step')} {_plural(hours, 'working hour')}")
    if total <= processing_days * minutes_per_day:
        return None
    day_hours = minutes_per_day / 60
    in_days = _plural(total / minutes_per_day, "working day")
    if total % minutes_per_day:
        in_days = f"{_plural(total / 60, 'working hour')} ({in_days} of {_number(day_hours)} hours)"
    return (f"the step allowances add up to {in_days}: {', '.join(spent)}; more than the version's "
            f"{_plural(processing_days, 'processing day')} ({_plural(processing_days * day_hours, 'working hour')})"
            f". Shorten the steps or lengthen processing_days.")


def announcement_warnings(announcement: schemas.Announcement | None) -> list[str]:
    """What looks odd about an announcement without being refused: no rule we encode orders the two dates."""
    if announcement is not None and announcement.decision_date > announcement.effective_date:
        return [f"the decision was signed on {announcement.decision_date}, after the legal act took effect on "
                f"{announcement.effective_date}"]
    return []


def announcement_problem(announcement: dict[str, Any] | None, today: date) -> str | None:
    """A decision cannot have been signed after today: a date ahead is a typo. Checked on new content only, as the
    workflow's rules are (app.catalogue.content.rule_problems)."""
    if announcement is None:
        return None
    signed = announcement["decision_date"]
    signed = signed if isinstance(signed, date) else date.fromisoformat(str(signed))
    return f"the decision is dated {signed}, after today ({today})" if signed > today else None

"""Import entries naming a recorded version with other dates: a version not yet in force is rescheduled, the start
of one in force never moves, a retirement agrees with the version it ends, and an export still imports back as a
no-op (app.catalogue.import_plan)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.catalogue import importer, service, versions
from app.catalogue.models import ProcedureVersion, VersionStatus
from app.catalogue.sample import describe
from app.catalogue.schemas import ImportSummary
from app.core import clock
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.core.problems import ProblemError
from tests.support.catalogue_fixtures import ADMIN, Catalogue
from tests.support.edges import expect_problem


async def _import(raw: Any) -> ImportSummary:
    async with get_database().write_sessions() as session, session.begin():
        return await importer.import_document(session, None, raw)


async def _refused(raw: Any) -> list[dict[str, Any]]:
    """The field errors of a document the import refuses (422), after checking it wrote nothing."""
    before = await _rows()
    with pytest.raises(ProblemError) as caught:
        await _import(raw)
    assert caught.value.code == "validation_error"
    assert await _rows() == before
    return caught.value.errors or []


async def _export(code: str) -> dict[str, Any]:
    """The export, with only the entries of `code` (as a file edited for that procedure would be)."""
    async with get_database().read_sessions() as session:
        doc = (await importer.export_document(session)).model_dump(mode="json")
    return {**doc, "procedures": [p for p in doc["procedures"] if p["code"] == code]}


async def _rows() -> tuple[Any, ...]:
    """Every version's number, status and dates, and the count of events: what an import may change."""
    async with get_database().read_sessions() as session:
        rows = (await session.execute(select(ProcedureVersion.procedure_code, ProcedureVersion.version,
                                             ProcedureVersion.status, ProcedureVersion.valid_from,
                                             ProcedureVersion.valid_to)
                                      .order_by(ProcedureVersion.procedure_code, ProcedureVersion.version))).all()
        events = await session.scalar(select(func.count()).select_from(OutboxEvent))
    return (*[tuple(row) for row in rows], events)


async def _versions(code: str) -> list[tuple[int, str, str | None, str | None]]:
    async with get_database().read_sessions() as session:
        rows = (await session.execute(select(ProcedureVersion).where(ProcedureVersion.procedure_code == code)
                                      .order_by(ProcedureVersion.version))).scalars().all()
    return [(v.version, v.status.value, clock.utc_text(v.valid_from), clock.utc_text(v.valid_to)) for v in rows]


async def _scheduled(catalogue: Catalogue, code: str, processing_days: int, valid_from: datetime) -> int:
    """A new version of `code` published from `valid_from` (in the future: scheduled); its number."""
    draft = await catalogue.draft(code, processing_days=processing_days)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, valid_from, if_match="*")
    return draft


def _counts(summary: ImportSummary) -> tuple[int, int, int, int]:
    return (summary.versions_published, summary.versions_retired, summary.versions_rescheduled, summary.unchanged)


async def test_an_unmodified_export_imports_back_unchanged_also_without_the_start_in_force(
        catalogue: Catalogue) -> None:
    """Export writes every valid_from; a file may leave out the one of the version in force (its only entry: an
    entry repeating a code needs the previous one's valid_from), which names the version in force."""
    code = await catalogue.procedure("P-ROUND", processing_days=10)
    await _scheduled(catalogue, code, 4, clock.now() + timedelta(days=2))
    single = await catalogue.procedure("P-SINGLE", processing_days=8)
    exported = {**await _export(code), "procedures": [*(await _export(code))["procedures"],
                                                      *(await _export(single))["procedures"]]}
    rows = await _rows()
    summary = await _import(exported)
    assert (_counts(summary), summary.changed) == ((0, 0, 0, 3), False)
    del exported["procedures"][2]["valid_from"]
    assert _counts(await _import(exported)) == (0, 0, 0, 3)
    assert await _rows() == rows


async def test_a_scheduled_version_moved_in_the_file_is_rescheduled(catalogue: Catalogue,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    code = await catalogue.procedure("P-MOVE", processing_days=10)
    now = clock.now()
    planned, later, sooner = now + timedelta(days=2), now + timedelta(days=5), now + timedelta(days=1)
    await _scheduled(catalogue, code, 4, planned)
    edited = await _export(code)
    edited["procedures"][1]["valid_from"] = clock.utc_text(later)
    summary = await _import(edited)
    assert _counts(summary) == (0, 0, 1, 1)  # the version in force is unchanged; its end moves with its successor
    assert summary.changed and "versions rescheduled 1, unchanged 1" in describe(summary)
    [v1, v2] = await _versions(code)
    assert (v1[1:], v2[1:]) == (("retired", v1[2], clock.utc_text(later)), ("published", clock.utc_text(later), None))
    assert await _export(code) == edited
    async with get_database().read_sessions() as session:
        event = (await session.execute(select(OutboxEvent).where(OutboxEvent.event_type == "procedure.rescheduled")
                                       )).scalar_one()
    assert event.payload == {"code": code, "version": 2, "valid_from": clock.utc_text(later),
                             "previous_valid_from": clock.utc_text(planned), "previous_version": 1}
    rows = await _rows()
    assert _counts(await _import(edited)) == (0, 0, 0, 2)  # the moved file again: nothing to do
    assert await _rows() == rows

    edited["procedures"][1]["valid_from"] = clock.utc_text(sooner)  # and back, before the first date
    assert _counts(await _import(edited)) == (0, 0, 1, 1)
    assert [v[2:] for v in await _versions(code)] == [(v1[2], clock.utc_text(sooner)), (clock.utc_text(sooner), None)]
    monkeypatch.setattr(clock, "now", lambda: sooner + timedelta(seconds=1))
    async with get_database().read_sessions() as session:
        live = await service.get_published_version(session, code)
    assert live is not None and live.processing_days == 4


async def test_an_entry_naming_only_the_scheduled_version_moves_it(catalogue: Catalogue) -> None:
    """The gap this closes: the entry alone, same content, another valid_from, was counted unchanged."""
    code = await catalogue.procedure("P-ALONE", processing_days=10)
    later = clock.now() + timedelta(days=4)
    await _scheduled(catalogue, code, 4, clock.now() + timedelta(days=2))
    scheduled = (await _export(code))["procedures"][1]
    doc = {"format": "dvc-catalogue/1", "procedures": [{**scheduled, "valid_from": clock.utc_text(later)}]}
    assert _counts(await _import(doc)) == (0, 0, 1, 0)
    assert [v[2:] for v in await _versions(code)][1:] == [(clock.utc_text(later), None)]
    assert (await _versions(code))[0][3] == clock.utc_text(later)


async def test_a_scheduled_version_moves_only_later_than_now_and_than_its_predecessor(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-ORDER", publish=False, processing_days=10)
    now = clock.now()
    async with catalogue.session() as session, session.begin():  # in force since ten days
        await versions.publish(session, ADMIN, code, 1, now - timedelta(days=10), if_match="*")
    await _scheduled(catalogue, code, 4, now + timedelta(days=2))
    await _scheduled(catalogue, code, 6, now + timedelta(days=4))
    edited = await _export(code)
    assert len(edited["procedures"]) == 3
    past = copy.deepcopy(edited)
    past["procedures"][1]["valid_from"] = clock.utc_text(now - timedelta(days=1))
    past["procedures"][2]["valid_from"] = clock.utc_text(now + timedelta(days=1))  # in order in the file
    errors = await _refused(past)
    assert [e["loc"] for e in errors] == [["body", "procedures", 1, "valid_from"],
                                          ["body", "procedures", 2, "valid_from"]]
    assert "later moment than now" in errors[0]["msg"]
    assert errors[1]["msg"].startswith("must be after the valid_from of version 2")


async def test_the_start_of_a_version_in_force_cannot_move(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-FIXED", processing_days=10)
    exported = await _export(code)
    started = exported["procedures"][0]["valid_from"]
    for moved in (clock.now() - timedelta(days=30), clock.now() + timedelta(days=3)):
        edited = copy.deepcopy(exported)
        edited["procedures"][0]["valid_from"] = clock.utc_text(moved)
        [error] = await _refused(edited)
        assert error["loc"] == ["body", "procedures", 0, "valid_from"]
        assert error["msg"].startswith(f"version 1, with this content, is in force since {started}")
    assert _counts(await _import(exported)) == (0, 0, 0, 1)  # the same start: unchanged

    await _scheduled(catalogue, code, 4, clock.now() + timedelta(days=2))  # now stored retired, still in force
    edited = await _export(code)
    edited["procedures"][0]["valid_from"] = clock.utc_text(clock.now() - timedelta(days=30))
    [error] = await _refused(edited)
    assert error["loc"] == ["body", "procedures", 0, "valid_from"] and "is in force since" in error["msg"]


async def test_a_retire_entry_must_name_the_start_of_the_version_it_ends(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-END", processing_days=10)
    exported = await _export(code)
    end = clock.utc_text(clock.now() + timedelta(days=3))
    contradicting = copy.deepcopy(exported)
    contradicting["procedures"][0] |= {"valid_from": clock.utc_text(clock.now() - timedelta(days=30)),
                                       "valid_to": end}
    [error] = await _refused(contradicting)
    assert error["loc"] == ["body", "procedures", 0, "valid_from"] and "is in force since" in error["msg"]
    assert (await _versions(code))[0][1:] == ("published", exported["procedures"][0]["valid_from"], None)

    agreeing = copy.deepcopy(exported)
    agreeing["procedures"][0]["valid_to"] = end
    assert _counts(await _import(agreeing)) == (0, 1, 0, 0)
    assert (await _versions(code))[0][1:] == ("retired", exported["procedures"][0]["valid_from"], end)


async def test_a_retire_entry_moving_a_scheduled_version_reschedules_and_ends_it(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-WINDOW", processing_days=10)
    now = clock.now()
    await _scheduled(catalogue, code, 4, now + timedelta(days=2))
    start, end = clock.utc_text(now + timedelta(days=3)), clock.utc_text(now + timedelta(days=6))
    edited = await _export(code)
    edited["procedures"][1] |= {"valid_from": start, "valid_to": end}
    assert _counts(await _import(edited)) == (0, 1, 1, 1)
    assert [v[1:] for v in await _versions(code)] == [("retired", edited["procedures"][0]["valid_from"], start),
                                                      ("retired", start, end)]
    assert await _export(code) == edited
    assert _counts(await _import(edited)) == (0, 0, 0, 2)


async def test_a_file_without_the_version_taking_over_is_refused_by_validation(catalogue: Catalogue) -> None:
    """The version in force ends where a scheduled one takes over: a file listing only the first would have it
    apply indefinitely. validate() finds it (a 422 on the entry), as apply() would, not a 409 from apply()."""
    code = await catalogue.procedure("P-MISSING", processing_days=10)
    await _scheduled(catalogue, code, 4, clock.now() + timedelta(days=2))
    edited = await _export(code)
    del edited["procedures"][1]
    [error] = await _refused(edited)
    assert error["loc"] == ["body", "procedures", 0, "valid_to"]
    assert "when version 2 takes over, but this entry has no end" in error["msg"]


async def test_validate_finds_what_apply_does(catalogue: Catalogue) -> None:
    """validate() plans on a copy of the timeline; apply() plans again: a clean validation is what is written."""
    code = await catalogue.procedure("P-BOTH", processing_days=10)
    await _scheduled(catalogue, code, 4, clock.now() + timedelta(days=2))
    edited = await _export(code)
    edited["procedures"][1]["valid_from"] = clock.utc_text(clock.now() + timedelta(days=4))
    async with get_database().write_sessions() as session, session.begin():
        doc = importer.parse_document(edited)
        assert await importer.validate(session, None, doc) == []
        assert await importer.validate(session, None, doc) == []  # validating changed nothing it plans against
        assert _counts(await importer.apply(session, doc)) == (0, 0, 1, 1)
    [v1, v2] = await _versions(code)
    assert (v1[3], v2[1], v2[2]) == (edited["procedures"][1]["valid_from"], VersionStatus.published.value,
                                     edited["procedures"][1]["valid_from"])


async def test_the_import_route_answers_the_count_and_the_refusal(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                  catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-HTTP", processing_days=10)
    await _scheduled(catalogue, code, 4, clock.now() + timedelta(days=2))
    admin = await accounts.admin()
    edited = await _export(code)
    edited["procedures"][0]["valid_from"] = clock.utc_text(clock.now() - timedelta(days=1))
    refused = await client.post("/v1/catalogue/import", json=edited, headers=admin.headers)
    [error] = expect_problem(refused, 422, "validation_error")["errors"]
    assert (error["loc"], error["pointer"]) == (["body", "procedures", 0, "valid_from"], "/procedures/0/valid_from")
    edited = await _export(code)
    edited["procedures"][1]["valid_from"] = clock.utc_text(clock.now() + timedelta(days=3))
    answer = await client.post("/v1/catalogue/import", json=edited, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert {k: v for k, v in answer.json().items() if k.startswith("versions") or k == "unchanged"} == {
        "versions_published": 0, "versions_retired": 0, "versions_rescheduled": 1, "unchanged": 1}

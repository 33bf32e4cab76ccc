"""Bulk import/export: all-or-nothing with every error's JSON pointer, idempotent, and an exact round trip."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app.catalogue import importer, service, versions
from app.catalogue.models import Agency, Field, Procedure, ProcedureVersion
from app.catalogue.sample import load_sample, sample_document
from app.core import clock
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.core.problems import ProblemError
from app.core.settings import get_settings
from tests.support.catalogue_fixtures import ADMIN, Catalogue, agency_admin, procedure_body


async def _import(raw: Any, editor: Any = None) -> Any:
    async with get_database().write_sessions() as session, session.begin():
        return await importer.import_document(session, editor, raw)


async def _export() -> dict[str, Any]:
    async with get_database().read_sessions() as session:
        return (await importer.export_document(session)).model_dump(mode="json")


async def _counts() -> tuple[int, ...]:
    async with get_database().read_sessions() as session:
        return tuple([await session.scalar(select(func.count()).select_from(model)) or 0
                      for model in (Agency, Field, Procedure, ProcedureVersion, OutboxEvent)])


async def _wipe_catalogue() -> None:
    async with get_database().write_sessions() as session, session.begin():
        for model in (OutboxEvent, ProcedureVersion, Procedure, Field):
            await session.execute(delete(model))
        await session.execute(delete(Agency).where(Agency.parent_code.is_not(None)))
        await session.execute(delete(Agency))


def test_the_sample_has_what_a_new_user_needs() -> None:
    doc = sample_document()
    procedures = doc["procedures"]
    levels = [p["online_level"] for p in procedures]
    assert (levels.count("full"), levels.count("partial"), len(procedures)) == (16, 3, 19)
    assert all(p["sample"] for p in procedures)
    free_citizen = [p for p in procedures if p["online_level"] == "full" and "citizen" in p["applicant_kinds"]
                    and not p["fee_items"]]
    before = [p for p in procedures if any(f["due"] == "before_processing" for f in p["fee_items"])]
    assert free_citizen and before
    assert any(p["applicant_kinds"] == ["organisation"] for p in procedures)
    assert any("application/pdf" in d["media_types"] for p in procedures for d in p["document_parts"])
    assert any(p["document_parts"] and not any(d["required"] for d in p["document_parts"]) for p in procedures)
    assert doc["agencies"][1]["name"] == "Sở Khoa học và Công nghệ tỉnh Hà Tĩnh"


async def test_sample_loads_once_and_exports_exactly_as_shipped(catalogue: Catalogue) -> None:
    first = await load_sample()
    counts = await _counts()
    second = await load_sample()
    assert "procedures +19" in first and "unchanged 19" in second
    assert await _counts() == counts  # re-import: no new rows, no events
    exported = await _export()
    assert exported == {**sample_document(), "note": None}


async def test_export_import_round_trip_is_identical(catalogue: Catalogue) -> None:
    await load_sample()
    await catalogue.procedure("EXTRA-1", agency_code="000.00.12.H23", field_code="HT-KHCN-TDC",
                              form_schema={"type": "object", "properties": {"d": {"type": "string",
                                                                                  "format": "date"}}})
    draft = await catalogue.draft("SAMPLE-HT-KHCN-01", processing_days=6)
    assert draft == 2  # drafts are not exported; the published version is
    exported = await _export()
    await _wipe_catalogue()
    assert (await _counts())[:4] == (0, 0, 0, 0)
    await _import(json.loads(json.dumps(exported)))
    assert await _export() == exported


async def test_a_changed_entry_becomes_a_new_published_version(catalogue: Catalogue) -> None:
    await load_sample()
    doc = sample_document()
    doc["procedures"][0]["processing_days"] = 6
    doc["procedures"][0]["valid_from"] = "2030-01-01T00:00:00Z"
    summary = await _import(doc)
    assert (summary.versions_published, summary.unchanged) == (1, 18)
    code = doc["procedures"][0]["code"]
    entries = [p for p in (await _export())["procedures"] if p["code"] == code]
    # the version in force until 2030, then the one scheduled from then
    assert [(p["processing_days"], p["valid_from"]) for p in entries] == [
        (sample_document()["procedures"][0]["processing_days"], "2023-03-01T00:00:00Z"), (6, "2030-01-01T00:00:00Z")]
    assert (await _import(doc)).versions_published == 0


async def test_one_bad_entry_writes_nothing_and_every_error_is_reported(catalogue: Catalogue) -> None:
    doc = copy.deepcopy(sample_document())
    bad = doc["procedures"]
    bad[1]["agency_code"] = "UNKNOWN"
    bad[2]["fee_items"] = [{"kind": "fee", "name": "x", "amount": -5, "due": "on_result"}]
    bad[3]["fee_items"] = [{"kind": "fee", "name": "x", "amount": 10.5, "due": "on_result"}]
    bad[4]["processing_days"] = 0
    bad[5]["document_parts"][0]["media_types"] = ["application/x-msdownload"]
    bad[6]["code"] = bad[0]["code"]
    bad[7]["field_code"] = "NO-FIELD"
    with pytest.raises(ProblemError) as caught:
        await _import(doc)
    pointers = {e["pointer"] for e in caught.value.errors or []}
    # shape errors are reported together first; references are checked once the shape is right
    assert {"/procedures/2/fee_items/0/amount", "/procedures/3/fee_items/0/amount",
            "/procedures/4/processing_days", "/procedures/5/document_parts/0/media_types"} <= pointers
    assert await _counts() == (0, 0, 0, 0, 0)
    for i in (2, 3, 4, 5):
        bad[i] = copy.deepcopy(sample_document()["procedures"][i])
    with pytest.raises(ProblemError) as caught:
        await _import(doc)
    assert {e["pointer"] for e in caught.value.errors or []} == {
        "/procedures/1/agency_code", "/procedures/6/code", "/procedures/7/field_code"}
    assert await _counts() == (0, 0, 0, 0, 0)


async def test_an_agency_admin_imports_only_its_own_agency(catalogue: Catalogue) -> None:
    with pytest.raises(ProblemError) as caught:
        await _import(sample_document(), agency_admin("000.00.12.H23"))  # the province entry is not theirs
    assert caught.value.code == "forbidden_role"
    assert await _counts() == (0, 0, 0, 0, 0)


async def _in_force(code: str) -> int | None:
    """The processing days of the version of `code` in force now (they tell the versions apart), or None."""
    async with get_database().read_sessions() as session:
        live = await service.get_published_version(session, code)
    return None if live is None else live.processing_days


async def test_an_export_during_a_scheduled_publication_keeps_the_version_in_force(
        catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    code = await catalogue.procedure("P-SCHEDULED", processing_days=10)
    draft = await catalogue.draft(code, processing_days=4)
    tomorrow = clock.now() + timedelta(days=1)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, tomorrow, if_match="*")
    exported = await _export()
    entries = [p for p in exported["procedures"] if p["code"] == code]
    assert [(p["processing_days"], p["valid_from"] == clock.utc_text(tomorrow)) for p in entries] == [
        (10, False), (4, True)]  # the version in force, then the scheduled one
    assert "valid_to" not in entries[0]  # the next entry takes over at its valid_from
    counts = await _counts()
    assert (await _import(exported)).changed is False  # re-importing into the source changes nothing
    assert await _counts() == counts

    await _wipe_catalogue()
    assert (await _export())["procedures"] == []
    await _import(json.loads(json.dumps(exported)))
    assert await _in_force(code) == 10
    assert await _export() == exported
    monkeypatch.setattr(clock, "now", lambda: tomorrow + timedelta(seconds=1))
    assert await _in_force(code) == 4
    counts = await _counts()
    assert (await _import(exported)).changed is False  # the same file after the switch: still nothing to do
    assert await _counts() == counts


async def test_an_export_keeps_a_version_retired_ahead_in_force_until_its_end(
        catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    code = await catalogue.procedure("P-ENDING", processing_days=6)
    end = clock.now() + timedelta(days=2)
    async with catalogue.session() as session, session.begin():
        await versions.retire(session, ADMIN, code, 1, end, if_match="*")
    exported = await _export()
    [entry] = [p for p in exported["procedures"] if p["code"] == code]
    assert entry["valid_to"] == clock.utc_text(end)

    await _wipe_catalogue()
    open_ended = copy.deepcopy(exported)
    del open_ended["procedures"][0]["valid_to"]
    await _import(open_ended)  # the procedure as it was before the retirement was scheduled
    summary = await _import(exported)
    assert (summary.versions_published, summary.versions_retired) == (0, 1)  # the same version, now ending
    assert await _export() == exported
    await _wipe_catalogue()
    await _import(exported)
    assert await _in_force(code) == 6
    assert await _export() == exported
    monkeypatch.setattr(clock, "now", lambda: end + timedelta(seconds=1))
    assert await _in_force(code) is None


async def test_later_entries_of_a_procedure_must_start_later(catalogue: Catalogue) -> None:
    doc = copy.deepcopy(sample_document())
    later = {**doc["procedures"][0], "processing_days": 6, "valid_from": "2024-01-01T00:00:00Z"}
    earlier = {**doc["procedures"][0], "processing_days": 7, "valid_from": "2022-01-01T00:00:00Z"}
    doc["procedures"] += [later, earlier]
    with pytest.raises(ProblemError) as caught:
        await _import(doc)
    assert [e["pointer"] for e in caught.value.errors or []] == ["/procedures/20/code"]
    doc["procedures"].pop()
    summary = await _import(doc)
    assert (summary.versions_published, summary.unchanged) == (20, 0)
    assert await _in_force(doc["procedures"][0]["code"]) == 6


async def test_a_publication_landing_while_an_import_waits_is_planned_against_not_overlapped(
        catalogue: Catalogue) -> None:
    """The import reads the versions when it validates, then may wait (here on an agency row another editor
    holds). A version published meanwhile must be seen when the import writes: its entry for [t3, t6) would
    overlap v2 from t4 (stored retired, no unique index catches it), so the import is refused, 409, and writes
    nothing. SQLite serialises the whole import (BEGIN IMMEDIATE), so this race exists on PostgreSQL only."""
    if get_settings().is_sqlite:
        pytest.skip("SQLite serialises the whole import")
    code = await catalogue.procedure("P-RACE", processing_days=10)
    async with catalogue.session() as session, session.begin():
        await versions.retire(session, ADMIN, code, 1, if_match="*")  # nothing published now
    draft = await catalogue.draft(code, processing_days=4)
    now = clock.now()
    t3, t4, t6 = now + timedelta(days=1), now + timedelta(days=2), now + timedelta(days=3)
    agency = next(a for a in (await _export())["agencies"] if a["code"] == "A1")
    entry = {**procedure_body(code, processing_days=7), "valid_from": t3.isoformat(), "valid_to": t6.isoformat()}
    doc = {"format": "dvc-catalogue/1", "agencies": [{**agency, "name": "Sở đổi tên"}], "fields": [],
           "procedures": [entry]}

    async with get_database().write_sessions() as holder:
        await holder.execute(select(Agency).where(Agency.code == "A1").with_for_update())
        imported = asyncio.create_task(_import(doc, ADMIN))
        await asyncio.sleep(0.5)  # validated (versions read); now waiting on the agency row
        assert not imported.done()
        async with catalogue.session() as other, other.begin():
            await versions.publish(other, ADMIN, code, draft, t4, if_match="*")
        await holder.rollback()
    with pytest.raises(ProblemError) as refused:
        await imported
    assert refused.value.code == "conflict"
    async with get_database().read_sessions() as session:
        rows = (await session.execute(select(ProcedureVersion.version, ProcedureVersion.status)
                                      .where(ProcedureVersion.procedure_code == code)
                                      .order_by(ProcedureVersion.version))).all()
        agency_name = (await session.execute(select(Agency.name).where(Agency.code == "A1"))).scalar_one()
    assert [(v, s.value) for v, s in rows] == [(1, "retired"), (2, "published")]
    assert agency_name != "Sở đổi tên"  # all or nothing

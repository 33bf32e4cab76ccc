"""A version's announcement (decision number and date, the legal act's effective date), `no_fee` and
`published_at`: recorded on create, edit, import and export, checked on new content only."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.catalogue import importer, versions
from app.catalogue.sample import sample_document
from app.core import clock
from app.core.clock import LOCAL_TZ
from app.core.db import get_database
from app.core.problems import ProblemError
from tests.support.catalogue_fixtures import ADMIN, Catalogue, procedure_body

ANNOUNCEMENT = {"decision_number": "1234/QĐ-UBND", "decision_date": "2025-02-20", "effective_date": "2025-03-01"}
NOW = datetime(2025, 3, 5, 9, 30, tzinfo=LOCAL_TZ).astimezone(UTC)  # as clock.now() answers


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


async def _import(raw: Any) -> Any:
    async with get_database().write_sessions() as session, session.begin():
        return await importer.import_document(session, None, raw)


async def _export() -> dict[str, Any]:
    async with get_database().read_sessions() as session:
        return (await importer.export_document(session)).model_dump(mode="json")


async def test_create_and_publish_with_an_announcement(client, accounts, catalogue: Catalogue,  # type: ignore[no-untyped-def]
                                                       fixed_now: datetime) -> None:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    body = procedure_body("ANN-1", announcement=ANNOUNCEMENT, legal_basis="Nghị định 1/2025/NĐ-CP")
    created = await client.post("/v1/procedures", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["announcement"] == ANNOUNCEMENT and draft["announcement_warnings"] == []
    assert draft["published_at"] is None and draft["no_fee"] is False
    published = await client.post("/v1/procedures/ANN-1/versions/1/publish",
                                  headers={**admin.headers, "If-Match": created.headers["etag"]})
    assert published.status_code == 200, published.text
    assert published.json()["published_at"] == "2025-03-05T02:30:00Z"
    assert (await client.get("/v1/procedures/ANN-1")).json()["announcement"] == ANNOUNCEMENT
    # A new version has a decision of its own: the announcement is not copied into the new draft.
    second = await client.post("/v1/procedures/ANN-1/versions", headers=admin.headers)
    assert second.status_code == 201 and second.json()["announcement"] is None
    assert second.json()["published_at"] is None


async def test_create_and_publish_without_an_announcement(client, accounts, catalogue: Catalogue,  # type: ignore[no-untyped-def]
                                                          fixed_now: datetime) -> None:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    created = await client.post("/v1/procedures", json=procedure_body("ANN-0"), headers=admin.headers)
    assert created.status_code == 201 and created.json()["announcement"] is None
    published = await client.post("/v1/procedures/ANN-0/versions/1/publish",
                                  headers={**admin.headers, "If-Match": created.headers["etag"]})
    assert published.json()["announcement"] is None and published.json()["published_at"] == "2025-03-05T02:30:00Z"


async def test_edits_set_and_remove_the_announcement(client, accounts, catalogue: Catalogue,  # type: ignore[no-untyped-def]
                                                     fixed_now: datetime) -> None:
    await catalogue.procedure("ANN-E", publish=False)
    admin = await accounts.admin()
    seen = await client.get("/v1/procedures/ANN-E/versions/1", headers=admin.headers)
    added = await client.patch("/v1/procedures/ANN-E/versions/1", json={"announcement": ANNOUNCEMENT},
                               headers={**admin.headers, "If-Match": seen.headers["etag"]})
    assert added.status_code == 200 and added.json()["announcement"] == ANNOUNCEMENT
    free = await client.patch("/v1/procedures/ANN-E/versions/1", json={"fee_items": [], "no_fee": True},
                              headers={**admin.headers, "If-Match": added.headers["etag"]})
    assert free.status_code == 200 and free.json()["no_fee"] is True
    removed = await client.patch("/v1/procedures/ANN-E/versions/1", json={"announcement": None},
                                 headers={**admin.headers, "If-Match": free.headers["etag"]})
    assert removed.status_code == 200 and removed.json()["announcement"] is None


@pytest.mark.parametrize(("announcement", "loc"), [
    ({**ANNOUNCEMENT, "decision_date": "2025-03-06"}, ["body", "announcement", "decision_date"]),  # after today
    ({**ANNOUNCEMENT, "effective_date": "0202-03-01"}, ["body", "announcement", "effective_date"]),  # a typo
    ({**ANNOUNCEMENT, "decision_date": "2100-01-01"}, ["body", "announcement", "decision_date"]),
    ({k: v for k, v in ANNOUNCEMENT.items() if k != "effective_date"}, ["body", "announcement", "effective_date"]),
    ({**ANNOUNCEMENT, "decision_number": "  "}, ["body", "announcement", "decision_number"]),
])
async def test_insane_announcements_are_422(client, accounts, catalogue: Catalogue, fixed_now: datetime,  # type: ignore[no-untyped-def]
                                            announcement: dict[str, Any], loc: list[Any]) -> None:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    answer = await client.post("/v1/procedures", json=procedure_body("ANN-BAD", announcement=announcement),
                               headers=admin.headers)
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["errors"]] == [loc]


async def test_no_fee_with_fee_items_is_422(client, accounts, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    answer = await client.post("/v1/procedures", json=procedure_body("ANN-FEE", no_fee=True), headers=admin.headers)
    assert answer.status_code == 422 and "no_fee" in answer.text


async def test_a_decision_signed_after_the_act_took_effect_is_a_warning(client, accounts, catalogue: Catalogue,  # type: ignore[no-untyped-def]
                                                                      fixed_now: datetime) -> None:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    late = {**ANNOUNCEMENT, "decision_date": "2025-03-04"}  # after the effective date: odd, not refused
    answer = await client.post("/v1/procedures", json=procedure_body("ANN-W", announcement=late),
                               headers=admin.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["announcement_warnings"] == [
        "the decision was signed on 2025-03-04, after the legal act took effect on 2025-03-01"]


async def test_cancelling_a_scheduled_publication_forgets_when_it_was_published(catalogue: Catalogue,
                                                                                 fixed_now: datetime) -> None:
    await catalogue.procedure("ANN-C", publish=False)
    async with catalogue.session() as session, session.begin():
        version = await versions.publish(session, ADMIN, "ANN-C", 1, NOW + timedelta(days=3), if_match="*")
        assert version.published_at == NOW
    async with catalogue.session() as session, session.begin():
        version = await versions.cancel(session, ADMIN, "ANN-C", 1, if_match="*")
        assert version.published_at is None


async def test_import_export_round_trip_with_the_new_fields(catalogue: Catalogue, fixed_now: datetime) -> None:
    doc = copy.deepcopy(sample_document())
    free = next(p for p in doc["procedures"] if not p["fee_items"])
    free.update(no_fee=True, announcement=ANNOUNCEMENT)
    charged = next(p for p in doc["procedures"] if p["fee_items"])
    charged["announcement"] = {**ANNOUNCEMENT, "decision_number": "99/QĐ-UBND"}
    summary = await _import(doc)
    assert summary.versions_published == len(doc["procedures"])
    exported = await _export()
    by_code = {p["code"]: p for p in exported["procedures"]}
    assert by_code[free["code"]]["announcement"] == ANNOUNCEMENT and by_code[free["code"]]["no_fee"] is True
    assert by_code[charged["code"]]["announcement"]["decision_number"] == "99/QĐ-UBND"
    # Unset, the new fields are left out: an export without announcements is what older importers read.
    others = [p for p in exported["procedures"] if p["code"] not in (free["code"], charged["code"])]
    assert others and all("announcement" not in p and "no_fee" not in p for p in others)
    again = await _import(exported)
    assert not again.changed and again.unchanged == len(doc["procedures"])
    assert await _export() == exported
    # An entry whose announcement changed is new content: a new version.
    charged_entry = next(p for p in exported["procedures"] if p["code"] == charged["code"])
    charged_entry["announcement"]["decision_number"] = "100/QĐ-UBND"
    del charged_entry["valid_from"]
    assert (await _import(exported)).versions_published == 1


async def test_an_old_file_without_the_fields_still_imports(catalogue: Catalogue, fixed_now: datetime) -> None:
    doc = sample_document()
    assert all("announcement" not in p and "no_fee" not in p for p in doc["procedures"])
    assert (await _import(doc)).versions_published == len(doc["procedures"])
    assert not (await _import(doc)).changed  # its versions compare equal to what was stored


async def test_a_recorded_version_is_not_checked_again(catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    """As workflow rules (session 19): an export imports back even if a rule would now refuse what it records. A
    decision dated after today cannot be entered, but the version recorded it when that day had come (here the
    clock moves back, as a server whose clock was corrected)."""
    monkeypatch.setattr(clock, "now", lambda: NOW)
    doc = copy.deepcopy(sample_document())
    doc["procedures"] = doc["procedures"][:1]
    doc["procedures"][0]["announcement"] = {**ANNOUNCEMENT, "decision_date": "2025-03-05"}
    await _import(doc)
    exported = await _export()
    monkeypatch.setattr(clock, "now", lambda: NOW - timedelta(days=2))
    assert not (await _import(exported)).changed
    fresh = copy.deepcopy(exported)
    fresh["procedures"][0]["announcement"]["decision_number"] = "2/QĐ-UBND"  # new content: today's rules
    del fresh["procedures"][0]["valid_from"]
    with pytest.raises(ProblemError) as refused:
        await _import(fresh)
    assert [e["loc"] for e in (refused.value.errors or [])] == [
        ["body", "procedures", 0, "announcement", "decision_date"]]

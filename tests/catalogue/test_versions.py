"""Version lifecycle: draft -> published -> retired, immutability, one published version per procedure."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.catalogue import service, versions
from app.catalogue.models import ProcedureVersion, VersionStatus
from app.catalogue.schemas import VersionPatch
from app.core import clock
from app.core.outbox import OutboxEvent
from app.core.problems import ProblemError
from tests.support.catalogue_fixtures import ADMIN, Catalogue, agency_admin


async def _statuses(catalogue: Catalogue, code: str) -> dict[int, str]:
    async with catalogue.session() as session:
        rows = (await session.execute(select(ProcedureVersion).where(ProcedureVersion.procedure_code == code)))
        return {v.version: v.status.value for v in rows.scalars()}


async def test_publishing_retires_the_previous_version_at_the_same_instant(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-LIFE")
    draft = await catalogue.draft(code, processing_days=7)
    async with catalogue.session() as session, session.begin():
        published = await versions.publish(session, ADMIN, code, draft, if_match="*")
    async with catalogue.session() as session:
        old = await service.get_version(session, code, 1)
        live = await service.get_published_version(session, code)
        events = (await session.execute(select(OutboxEvent.event_type))).scalars().all()
    assert old is not None and live is not None
    assert old.status == VersionStatus.retired and old.valid_to == published.valid_from
    assert (live.version, live.processing_days) == (draft, 7)
    assert events.count("procedure.published") == 2


async def test_published_and_retired_versions_are_immutable(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-IMMUTABLE")
    async with catalogue.session() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await versions.patch_draft(session, ADMIN, code, 1, VersionPatch(processing_days=3), "*")
    assert caught.value.code == "version_published"
    draft = await catalogue.draft(code)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, if_match="*")
    async with catalogue.session() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await versions.patch_draft(session, ADMIN, code, 1, VersionPatch(processing_days=3), "*")
    assert caught.value.code == "version_published"  # a retired version was published (issue 5)
    async with catalogue.session() as session:
        assert (await service.get_version(session, code, 1)).processing_days == 10  # type: ignore[union-attr]


async def test_draft_edits_are_validated_as_a_whole(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-EDIT", publish=False)
    async with catalogue.session() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await versions.patch_draft(session, ADMIN, code, 1, VersionPatch(agency_code="NOPE", field_code="NOPE"),
                                       "*")
    assert {e["pointer"] for e in caught.value.errors or []} == {"/agency_code", "/field_code"}
    async with catalogue.session() as session, session.begin():
        version = await versions.patch_draft(session, ADMIN, code, 1, VersionPatch(name="Đổi tên thủ tục"), '"1"')
    assert version.search_name == " doi ten thu tuc "


async def test_publishing_needs_document_parts(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-NOPARTS", publish=False, document_parts=[])
    async with catalogue.session() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await versions.publish(session, ADMIN, code, 1, if_match="*")
    assert caught.value.code == "validation_error"
    assert caught.value.errors and caught.value.errors[0]["loc"] == ["document_parts"]
    assert await _statuses(catalogue, code) == {1: "draft"}


async def test_overlapping_validity_is_refused(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-OVERLAP")
    draft = await catalogue.draft(code)
    async with catalogue.session() as session:
        live = await service.get_published_version(session, code)
    assert live is not None and live.valid_from is not None
    async with catalogue.session() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await versions.publish(session, ADMIN, code, draft, live.valid_from - timedelta(days=1),
                                       if_match="*")
    assert caught.value.errors and caught.value.errors[0]["loc"] == ["body", "valid_from"]
    assert await _statuses(catalogue, code) == {1: "published", 2: "draft"}


async def test_a_future_publication_keeps_the_current_version_in_force_until_then(
        catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    code = await catalogue.procedure("P-FUTURE")
    draft = await catalogue.draft(code, processing_days=4)
    start = clock.now() + timedelta(days=10)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, start, if_match="*")
    async with catalogue.session() as session:
        assert (await service.get_published_version(session, code)).version == 1  # type: ignore[union-attr]
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=1))
    async with catalogue.session() as session:
        assert (await service.get_published_version(session, code)).version == draft  # type: ignore[union-attr]


async def test_retire_takes_a_procedure_out_of_force(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-RETIRE")
    async with catalogue.session() as session, session.begin():
        await versions.retire(session, ADMIN, code, 1, if_match="*")
    async with catalogue.session() as session:
        assert await service.get_published_version(session, code) is None
        assert (await service.get_version(session, code, 1)).status == VersionStatus.retired  # type: ignore[union-attr]


async def test_concurrent_publishes_of_a_draft_leave_exactly_one_published(catalogue: Catalogue) -> None:
    """(A procedure has one draft at a time, so two editors' publishes race on that one.)"""
    code = await catalogue.procedure("P-RACE")
    draft = await catalogue.draft(code)

    async def publish(number: int) -> str:
        try:
            async with catalogue.session() as session, session.begin():
                await versions.publish(session, ADMIN, code, number, if_match="*")
            return "ok"
        except ProblemError as error:
            return error.code

    outcomes = await asyncio.gather(publish(draft), publish(draft))
    statuses = await _statuses(catalogue, code)
    assert list(statuses.values()).count("published") == 1
    assert sorted(outcomes) == ["ok", "version_published"]
    async with catalogue.session() as session:
        history = (await session.execute(select(ProcedureVersion).where(
            ProcedureVersion.procedure_code == code, ProcedureVersion.status != VersionStatus.draft)
            .order_by(ProcedureVersion.valid_from))).scalars().all()
    for earlier, later in itertools.pairwise(history):
        assert earlier.valid_to is not None and later.valid_from is not None
        assert earlier.valid_to <= later.valid_from  # validity periods never overlap


async def test_the_database_refuses_a_second_published_version(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-INDEX")
    draft = await catalogue.draft(code)
    with pytest.raises(IntegrityError):
        async with catalogue.session() as session, session.begin():
            await session.execute(update(ProcedureVersion).where(
                ProcedureVersion.procedure_code == code, ProcedureVersion.version == draft)
                .values(status=VersionStatus.published))


async def test_an_agency_admin_edits_only_its_own_agency(catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-OWN", agency_code="A1")
    await catalogue.agency("A2")
    async with catalogue.session() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await versions.new_draft(session, agency_admin("A2"), code)
    assert caught.value.code == "forbidden_role"
    async with catalogue.session() as session, session.begin():
        draft = await versions.new_draft(session, agency_admin("A1"), code)
        with pytest.raises(ProblemError) as caught:  # nor hand a procedure over to another agency
            await versions.patch_draft(session, agency_admin("A1"), code, draft.version,
                                       VersionPatch(agency_code="A2"), "*")
    assert caught.value.code == "forbidden_role"

"""The catalogue figures of Decision 766 count the versions in force now, not the rows stored `published`."""

from __future__ import annotations

from datetime import date, timedelta

from app.catalogue import versions
from app.core import clock
from app.reporting.figures import ReportQuery, catalogue_figures
from tests.support.catalogue_fixtures import ADMIN, Catalogue

QUERY = ReportQuery(date(2025, 3, 1), date(2025, 3, 31), None, None, None)


async def _publish_later(catalogue: Catalogue, code: str, number: int) -> None:
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, number, clock.now() + timedelta(days=10), if_match="*")


async def test_a_scheduled_publication_counts_only_once_in_force(catalogue: Catalogue) -> None:
    # P1: v1 (fully online) in force; v2 (not online) published from a date ten days away: v1 is what applies.
    await catalogue.procedure("P1")
    await _publish_later(catalogue, "P1", await catalogue.draft("P1", online_level="direct", channels=["desk"]))
    # P2: nothing in force yet, its first version scheduled.
    await catalogue.procedure("P2", publish=False)
    await _publish_later(catalogue, "P2", 1)
    async with catalogue.session() as session:
        figures = await catalogue_figures(session, QUERY)
    assert figures.published == {"": 1} and figures.online == {"": 1} and figures.online_codes == {"P1"}

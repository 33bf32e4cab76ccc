"""Decision 766 transparency, "procedures announced and published on time and complete", through the indicators
endpoint: versions announced to take effect in the period, published by the end of the day
DVC_INDICATOR_PUBLICATION_ALLOWANCE_DAYS working days after it, complete (document parts, fees or no_fee, legal
basis), over those published or past that day."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.core.settings import get_settings
from tests.reporting.conftest import Clock
from tests.reporting.test_indicators import by_name, fraction
from tests.support.catalogue_fixtures import Catalogue

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
LAW = "Nghị định 10/2025/NĐ-CP"


def announced(effective: str, number: str = "50/QĐ-UBND") -> dict[str, str]:
    return {"decision_number": number, "decision_date": "2025-03-01", "effective_date": effective}


@pytest.fixture
def allowance(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def set_days(days: int) -> None:
        monkeypatch.setenv("DVC_INDICATOR_PUBLICATION_ALLOWANCE_DAYS", str(days))
        get_settings.cache_clear()

    yield set_days
    monkeypatch.delenv("DVC_INDICATOR_PUBLICATION_ALLOWANCE_DAYS", raising=False)
    get_settings.cache_clear()


async def _march(catalogue: Catalogue, at: Clock) -> None:
    """The legal act takes effect on Friday 7 March 2025 (Saturday 8 and Sunday 9 off)."""
    await catalogue.agency("A2")
    friday = announced("2025-03-07")
    at.set(2025, 3, 6, 10, 0)  # Thursday: before the act takes effect
    await catalogue.procedure("A2-EARLY", agency_code="A2", legal_basis=LAW, announcement=friday)
    at.set(2025, 3, 7, 15, 0)  # Friday, the effective date; charges nothing, said so
    await catalogue.procedure("FREE", legal_basis=LAW, fee_items=[], no_fee=True, announcement=friday)
    await catalogue.procedure("NONE", legal_basis=LAW)  # no announcement: left out
    at.set(2025, 3, 8, 9, 0)  # Saturday: on time, but without its legal basis or a stated fee
    await catalogue.procedure("NO-LAW", announcement=friday)
    await catalogue.procedure("FEES-UNSAID", legal_basis=LAW, fee_items=[], announcement=friday)
    at.set(2025, 3, 10, 16, 0)  # Monday: the first working day after the effective date
    await catalogue.procedure("MONDAY", legal_basis=LAW, announcement=friday)
    at.set(2025, 3, 11, 9, 0)  # Tuesday
    await catalogue.procedure("TUESDAY", legal_basis=LAW, announcement=friday)
    await catalogue.procedure("DRAFT-DUE", legal_basis=LAW, announcement=friday, publish=False)
    await catalogue.procedure("DRAFT-LATER", legal_basis=LAW, announcement=announced("2025-03-28"), publish=False)
    await catalogue.procedure("APRIL", legal_basis=LAW, announcement=announced("2025-04-01"))  # another period
    at.set(2025, 3, 20, 10, 0)  # the report: DRAFT-DUE is past its day, DRAFT-LATER not yet


async def _ratio(client: Any, admin: Any, **params: str) -> dict[str, Any]:
    answer = await client.get("/v1/reports/indicators", params={**MARCH, **params}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _published_on_time(row: dict[str, Any]) -> dict[str, Any]:
    return by_name(row)["transparency"]["procedures_published_on_time"]


async def test_on_time_across_a_weekend_and_complete(client, accounts, catalogue, at, allowance) -> None:  # type: ignore[no-untyped-def]
    await _march(catalogue, at)
    admin = await accounts.admin()
    allowance(1)  # Friday + 1 working day = Monday: MONDAY on time, TUESDAY late
    body = await _ratio(client, admin)
    ratio = _published_on_time(body["total"])
    # Good: A2-EARLY, FREE, MONDAY. Counted: those, NO-LAW, FEES-UNSAID, TUESDAY and DRAFT-DUE (past its day,
    # never published). Left out: NONE (no announcement), DRAFT-LATER (not due yet), APRIL (another period).
    assert ratio["available"] is True and fraction(ratio) == (3, 7, 0.4286)
    assert "without announcement data are left out" in ratio["note"]
    transparency = by_name(body["total"])["transparency"]["group"]
    assert transparency["points"] == round(18 * 0.4286, 2)  # no dossier: the only ratio with a value

    allowance(0)  # the effective date itself: MONDAY is late now, NO-LAW and FEES-UNSAID were late anyway
    assert fraction(_published_on_time((await _ratio(client, admin))["total"])) == (2, 7, 0.2857)


async def test_scoped_and_grouped_as_the_report(client, accounts, catalogue, at, allowance) -> None:  # type: ignore[no-untyped-def]
    await _march(catalogue, at)
    admin = await accounts.admin()
    allowance(1)
    rows = {r["agency_code"]: _published_on_time(r) for r in (await _ratio(client, admin, group_by="agency"))["rows"]}
    assert {k: fraction(v) for k, v in rows.items()} == {"A1": (2, 6, 0.3333), "A2": (1, 1, 1.0)}
    only_a2 = await _ratio(client, admin, agency="A2")
    assert fraction(_published_on_time(only_a2["total"])) == (1, 1, 1.0)
    procedures = {r["procedure_code"]: fraction(_published_on_time(r))
                  for r in (await _ratio(client, admin, group_by="procedure"))["rows"]}
    assert procedures["TUESDAY"] == (0, 1, 0.0) and procedures["FREE"] == (1, 1, 1.0)
    assert procedures["NONE"] == procedures["APRIL"] == (None, None, None)  # in force, nothing announced in March
    assert procedures["DRAFT-LATER"] == (0, 0, None)  # announced, not due yet: nothing to count
    months = (await _ratio(client, admin, group_by="month", **{"from": "2025-03-01", "to": "2025-04-30"}))["rows"]
    assert {r["month"]: fraction(_published_on_time(r)) for r in months} == {
        "2025-03": (3, 7, 0.4286), "2025-04": (1, 1, 1.0)}  # APRIL, published before its act takes effect
    official = await accounts.official("A2", ("agency_admin",))
    mine = await _ratio(client, official)
    assert fraction(_published_on_time(mine["total"])) == (1, 1, 1.0)


async def test_unavailable_without_announcements(client, accounts, catalogue, at) -> None:  # type: ignore[no-untyped-def]
    at.set(2025, 3, 3, 9, 0)
    await catalogue.procedure("NONE", legal_basis=LAW)
    admin = await accounts.admin()
    ratio = _published_on_time((await _ratio(client, admin))["total"])
    assert ratio["available"] is False and ratio["value"] is None
    assert ratio["note"].startswith("No procedure version records an announcement")

"""A report on a period that is over counts the dossiers open when it ended (captured by `dvc worker` after
midnight), not those open on the day the report is made; without a capture it rebuilds them from their history
as they were when it ended, and says so (`open_counted_at`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from app.core.db import get_database
from app.core.worker import load_domain_tasks, registered_tasks
from app.reporting.models import OpenCountCapture
from app.reporting.tasks import capture_missed_days
from tests.reporting.conftest import build_march, finish, local
from tests.reporting.test_indicators import MARCH, by_name, fraction
from tests.support.identity_fixtures import DEFAULT_AGENCY


async def _finish_open_ones(flow, month) -> None:  # type: ignore[no-untyped-def]
    await finish(flow, month.ids["desk"])
    await flow.act(flow.reception, month.ids["open"], "assign", assignee=str(flow.processing.id))
    await finish(flow, month.ids["open"])


async def _march(client, admin, **params):  # type: ignore[no-untyped-def]
    response = await client.get("/v1/reports/indicators", params={**MARCH, **params}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def assert_end_of_march(client, admin, month, body) -> None:  # type: ignore[no-untyped-def]
    """March's report (`body`, then by procedure and by month) as the worker counted it at the end of March: the
    desk, open and paid dossiers open and all three past their due dates (10 and 24 March); finished in March on
    time, only on_time (apologised and twice are late)."""
    progress = by_name(body["total"])["progress"]
    assert fraction(progress["overdue_open"]) == (3, 3, 1.0)
    assert fraction(progress["finished_on_time"]) == (1, 6, 0.1667)
    by_procedure = await _march(client, admin, group_by="procedure")
    rows = {r["procedure_code"]: by_name(r)["progress"]["overdue_open"] for r in by_procedure["rows"]}
    assert {code: fraction(ratio)[:2] for code, ratio in rows.items()} == {
        month.procedures[0]: (2, 2), month.procedures[1]: (1, 1)}
    by_month = await _march(client, admin, group_by="month", **{"from": "2025-02-01"})
    assert [(r["month"], fraction(by_name(r)["progress"]["overdue_open"])[:2]) for r in by_month["rows"]] == [
        ("2025-03", (3, 3))]


async def test_a_past_month_counts_the_dossiers_open_when_it_ended(client, flow, fees, at, accounts):
    load_domain_tasks()
    assert "reporting.capture_open_counts" in registered_tasks()
    month = await build_march(client, flow, fees, at)
    admin = await accounts.admin()
    at.set(2025, 4, 1, 0, 5)  # the worker's first run after the month ended
    assert (await capture_missed_days())[0] == date(2025, 3, 31)
    assert await capture_missed_days() == []  # once per day, whichever worker gets there first

    at.set(2025, 4, 2, 9, 0)
    await _finish_open_ones(flow, month)  # two of the three open dossiers are finished in April
    at.set(2025, 4, 10, 9, 0)
    body = await _march(client, admin)
    assert datetime.fromisoformat(body["open_counted_at"]) == local(2025, 4, 1, 0, 5)
    await assert_end_of_march(client, admin, month, body)


async def test_without_a_capture_a_past_month_is_rebuilt_as_it_was_at_its_end_and_the_report_says_so(
        client, flow, fees, at, accounts):
    """A month older than DVC_OPEN_COUNT_BACKFILL_DAYS was never counted: the report rebuilds its last day from
    the dossiers' history (what the worker would have counted), where it counted the dossiers as they are now."""
    month = await build_march(client, flow, fees, at)
    admin = await accounts.admin()
    at.set(2025, 4, 2, 9, 0)
    await _finish_open_ones(flow, month)  # two of the three dossiers open on 31 March finish in April
    at.set(2025, 9, 10, 9, 0)
    assert await capture_missed_days()  # the worker's look-back (31 days) does not reach March
    assert date(2025, 3, 31) not in await _captured_days()
    body = await _march(client, admin)
    assert body["open_counted_at"] == "2025-03-31T17:00:00Z"  # the moment described (UTC, as a capture)
    # As the worker's count at the end of March had them (the test above); before: only the paid one, still
    # open now, (1, 1), and on time 1 of 4.
    await assert_end_of_march(client, admin, month, body)
    by_agency = await _march(client, admin, group_by="agency")
    assert [fraction(by_name(r)["progress"]["overdue_open"])[:2] for r in by_agency["rows"]] == [(3, 3)]
    other = await _march(client, admin, agency=DEFAULT_AGENCY, procedure=month.procedures[1])
    assert fraction(by_name(other["total"])["progress"]["overdue_open"]) == (1, 1, 1.0)
    assert date(2025, 3, 31) not in await _captured_days()  # a report only reads


async def _captured_days() -> set[date]:
    async with get_database().read_sessions() as session:
        return set((await session.execute(select(OpenCountCapture.day))).scalars())


async def test_without_a_capture_a_past_month_judges_its_open_dossiers_overdue_at_its_end(client, flow, at,
                                                                                          accounts):
    """Read after the month, with no end-of-day count (the worker was down that night): a dossier received on 28
    March, due 4 April and still open was within its deadline when March ended. The report counted it overdue
    (judged at the moment of reading), while the public late list for March, judged at the month's end, did
    not: two published figures of one month disagreed."""
    admin = await accounts.admin()
    at.set(2025, 3, 28, 9, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    received = await flow.act(flow.reception, dossier["id"], "receive")
    assert received["due_at"].startswith("2025-04-04")
    at.set(2025, 4, 10, 9, 0)
    body = await _march(client, admin)
    assert fraction(by_name(body["total"])["progress"]["overdue_open"]) == (0, 1, 0.0)
    assert fraction(by_name(body["total"])["progress"]["finished_on_time"]) == (1, 1, 1.0)
    late = (await client.get("/v1/public/late-dossiers", params=MARCH)).json()
    [agency] = late["items"]
    assert (agency["handled"], agency["still_overdue"]) == (1, 0)

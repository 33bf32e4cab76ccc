"""The end-of-day counts of open dossiers (live or rebuilt from history) and the public late list judge "overdue"
by one rule (app.workflow.progress.fell_behind_at): behind the ORIGINAL due date since `late_since` once a
supplement wait began after it, however far that wait moved the date out when it ended."""

from __future__ import annotations

from datetime import date

from app.reporting.cache import public_cache
from app.reporting.tasks import capture_missed_days
from tests.reporting.test_indicators import by_name, fraction

DAY = {"from": "2025-03-07", "to": "2025-03-07"}


async def test_a_late_wait_answered_before_midnight_is_overdue_in_the_rebuilt_count_as_on_the_late_list(
        client, flow, at, accounts):
    admin = await accounts.admin()
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=2, clock_on_supplement="pause")
    citizen, dossier = await flow.submitted(code)
    at.set(2025, 3, 3, 9, 0)
    did = dossier["id"]
    await flow.to_processing(did)  # due Wed 5 Mar 17:00
    at.set(2025, 3, 4, 10, 0)
    await flow.act(flow.processing, did, "apologise", reason="Cần xác minh thêm", new_due_date="2025-03-07")
    at.set(2025, 3, 6, 9, 0)  # late already: late since 5 March
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    at.set(2025, 3, 7, 9, 0)  # answered on Friday: the original due date moves to Thu 6 Mar, the apology's to Mon 10
    file_id = await flow.upload_supplement(citizen, did)
    await flow.act(citizen, did, "supplement", attachments=[file_id])
    at.set(2025, 3, 10, 9, 0)  # the worker was down over the weekend: Friday is rebuilt from the history
    assert date(2025, 3, 7) in await capture_missed_days()

    report = await client.get("/v1/reports/indicators", params=DAY, headers=admin.headers)
    assert report.status_code == 200, report.text
    assert report.json()["open_counted_at"].startswith("2025-03-07T17:00:00")  # rebuilt as at Friday's end
    # Before: (0, 1): the replay moved the original date by as long as the apology's (to Saturday), and the
    # count judged by it; the late list, by `late_since`, had the dossier overdue that same day.
    assert fraction(by_name(report.json()["total"])["progress"]["overdue_open"]) == (1, 1, 1.0)
    public_cache.clear()
    late = await client.get("/v1/public/late-dossiers", params=DAY)
    assert [(i["handled"], i["still_overdue"]) for i in late.json()["items"]] == [(1, 1)]

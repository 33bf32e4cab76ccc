"""The late list of a period that is over, for dossiers open when it ended whose clock a supplement asked after it
restarted: their row now says received after the period (and due from the restart), so by their row they left
the period's list and its `handled`. Their history, replayed to the period's end, says what they were then."""

from __future__ import annotations

from tests.reporting.test_late_period_end import APRIL, MARCH, _figures, _finish, _in_processing, _list
from tests.reporting.test_late_period_end import _officials as officials


async def _restarted_in_april(flow, at, citizen, did):  # type: ignore[no-untyped-def]
    at.set(2025, 4, 1, 9, 0)  # the clock ran when March ended
    await flow.act(flow.processing, did, "request_supplement", items=["Bản sao giấy phép"])
    at.set(2025, 4, 2, 9, 0)
    file_id = await flow.upload_supplement(citizen, did)
    answered = await flow.act(citizen, did, "supplement", attachments=[file_id])
    assert answered["received_at"].startswith("2025-04-02")  # received anew: a new clock


async def test_a_dossier_overdue_when_march_ended_restarted_and_finished_since_stays_on_marchs_list(
        client, flow, at):
    citizen, did = await _in_processing(flow, at, clock_on_supplement="restart")  # due Thu 6 Mar 17:00
    at.set(2025, 4, 1, 0, 10)
    published = await _list(client, MARCH)
    assert _figures(published) == [(1, 0, 1, 1, 0)]
    await _restarted_in_april(flow, at, citizen, did)
    at.set(2025, 4, 3, 9, 0)
    await _finish(flow, did)  # in time by the restarted clock
    at.set(2025, 5, 5, 9, 0)
    march = await _list(client, MARCH)
    # Before: March's list was empty (received, by its row, after March ended).
    assert _figures(march) == _figures(published)
    assert officials(march) == officials(published)
    assert _figures(await _list(client, APRIL)) == [(1, 0, 0, 0, 0)]  # finished in April, within its new time


async def test_a_dossier_within_its_time_when_march_ended_restarted_and_finished_since_was_handled_in_march(
        client, flow, at):
    at.set(2025, 3, 27, 8, 0)
    code = await flow.procedure(processing_days=5, clock_on_supplement="restart")
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    at.set(2025, 3, 27, 9, 0)
    await flow.to_processing(did)  # due in April
    at.set(2025, 4, 1, 0, 10)
    published = await _list(client, MARCH)
    assert _figures(published) == [(1, 0, 0, 0, 0)]
    await _restarted_in_april(flow, at, citizen, did)
    at.set(2025, 4, 3, 9, 0)
    await _finish(flow, did)
    at.set(2025, 5, 5, 9, 0)
    # Before: handled 0 in March (left out of the list).
    assert _figures(await _list(client, MARCH)) == [(1, 0, 0, 0, 0)]


async def test_a_dossier_overdue_when_march_ended_and_restarted_since_but_still_open_stays_on_marchs_list(
        client, flow, at):
    citizen, did = await _in_processing(flow, at, clock_on_supplement="restart")
    await _restarted_in_april(flow, at, citizen, did)
    at.set(2025, 5, 5, 9, 0)
    assert _figures(await _list(client, MARCH)) == [(1, 0, 1, 1, 0)]
    assert _figures(await _list(client, APRIL)) == [(1, 0, 1, 1, 0)]  # overdue again by its new clock (due 7 April)

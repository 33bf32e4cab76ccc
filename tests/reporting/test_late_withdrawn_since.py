"""A past period's public late list judges a dossier withdrawn after the period ended by its history at the
period's end (UBND 442/2023 §2): late then, it stays on that period's list.

Reception may withdraw a dossier filed at the desk or by post on the applicant's written request
(`withdraw_on_request`). Judged by today's state ("a withdrawn dossier is neither finished nor open"), that took a
dossier overdue in a published month off the month's list after the fact. Withdrawn within the period, or while
the period runs, a dossier is still neither finished nor open (tests/reporting/test_late_attribution.py).
"""

from __future__ import annotations

from typing import Any

from tests.reporting.test_late_period_end import APRIL, MARCH, _figures, _list, _officials


async def _desk_dossier(client: Any, flow: Any, at: Any, day: int = 3) -> str:
    """A dossier of a 3-day procedure filed at the desk on `day` March 2025 at 8:00, received and assigned at
    9:00 (on Monday 3 March: due Thu 6 Mar 17:00)."""
    at.set(2025, 3, day, 8, 0)
    code = await flow.procedure(processing_days=3)
    intake = await client.post("/v1/dossiers/intake", headers=flow.reception.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "Bà Tư"}})
    assert intake.status_code == 201, intake.text
    dossier = intake.json()["id"]
    for part in ("application_form", "id_copy"):
        assert (await flow.dossiers.upload(client, flow.reception, dossier, part)).status_code == 201
    assert (await flow.dossiers.submit(client, flow.reception, dossier)).status_code == 200
    at.set(2025, 3, day, 9, 0)
    await flow.to_processing(dossier)
    return dossier


async def _withdraw_on_request(flow: Any, dossier: str) -> None:
    withdrawn = await flow.act(flow.reception, dossier, "withdraw_on_request",
                               reason="Đơn xin rút hồ sơ số 12/2025")
    assert withdrawn["state"] == "withdrawn"


async def test_a_dossier_overdue_when_march_ended_and_withdrawn_on_request_in_april_stays_on_marchs_list(
        client, flow, at):
    dossier = await _desk_dossier(client, flow, at)
    at.set(2025, 4, 1, 0, 10)
    published = await _list(client, MARCH)
    assert _figures(published) == [(1, 0, 1, 1, 0)]
    assert _officials(published) == {"Phạm Văn Thẩm Định": (1, 1, {"in_progress": 1})}
    at.set(2025, 4, 3, 9, 0)
    await _withdraw_on_request(flow, dossier)
    at.set(2025, 5, 5, 9, 0)
    march = await _list(client, MARCH)
    # Before: [] (withdrawn now, so neither finished nor open in March).
    assert _figures(march) == _figures(published) and _officials(march) == _officials(published)
    assert _figures(await _list(client, APRIL)) == []  # withdrawn in April: neither finished nor open in it


async def test_a_dossier_withdrawn_within_march_leaves_marchs_list(client, flow, at):
    dossier = await _desk_dossier(client, flow, at)
    at.set(2025, 3, 20, 9, 0)  # overdue since 6 March
    await _withdraw_on_request(flow, dossier)
    at.set(2025, 5, 5, 9, 0)
    assert _figures(await _list(client, MARCH)) == []


async def test_a_dossier_within_its_time_when_march_ended_and_withdrawn_since_was_open_then(client, flow, at):
    dossier = await _desk_dossier(client, flow, at, day=28)  # Friday 28 March: due Wed 2 April
    at.set(2025, 4, 1, 9, 0)
    await _withdraw_on_request(flow, dossier)
    at.set(2025, 5, 5, 9, 0)
    # Open and within its time when March ended (as one finished in April would be): handled, not late.
    assert _figures(await _list(client, MARCH)) == [(1, 0, 0, 0, 0)]
    assert _officials(await _list(client, MARCH)) == {}


async def test_the_current_period_still_leaves_out_a_dossier_withdrawn_in_it(client, flow, at):
    dossier = await _desk_dossier(client, flow, at)
    at.set(2025, 3, 20, 9, 0)
    assert _figures(await _list(client, MARCH)) == [(1, 0, 1, 1, 0)]
    await _withdraw_on_request(flow, dossier)
    at.set(2025, 3, 21, 9, 0)
    assert _figures(await _list(client, MARCH)) == []

"""The national portal hears of a status change only when it tells it something new: its national code or its due
date. The internal steps of processing (assign, appraise, approve) keep code 4 and sent a code-4 message each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from app.core.clock import LOCAL_TZ
from app.core.delivery import DEAD
from app.integration.portal import CONSUMER
from tests.integration.conftest import PortalKit, deliveries
from tests.workflow.test_supplement_and_endings import set_clock


def _portal_time(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LOCAL_TZ).strftime("%Y%m%d%H%M%S")


def _told(portal: PortalKit) -> list[tuple[str, str | None]]:
    return [(r["TrangThaiHoSo"], r["NgayHenTra"] or None) for r in portal.fake.accepted]


def _working_day_after(day: date, days: int) -> date:
    candidate = day + timedelta(days=days)
    while candidate.weekday() >= 5:
        candidate += timedelta(days=1)
    return candidate


async def _in_processing(flow: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    await flow.act(flow.reception, dossier["id"], "receive")
    await flow.act(flow.reception, dossier["id"], "assign", assignee=str(flow.processing.id))
    return str(dossier["id"])


async def test_appraise_and_approve_send_nothing_but_a_new_due_date_is_sent(  # type: ignore[no-untyped-def]
        client, flow, portal: PortalKit, monkeypatch: pytest.MonkeyPatch) -> None:
    did = await _in_processing(flow, monkeypatch)
    await flow.act(flow.processing, did, "appraise")
    await flow.act(flow.approval, did, "approve")
    await portal.run()
    due = _portal_time((await flow.get(flow.reception, did))["due_at"])
    assert _told(portal) == [("1", None), ("2", due), ("4", due)]  # submitted, received, assigned; no more

    current = datetime.strptime(due, "%Y%m%d%H%M%S").date()
    await flow.act(flow.processing, did, "apologise", reason="Cần xác minh với cơ quan liên quan",
                   new_due_date=_working_day_after(current, 3).isoformat())
    await portal.run()
    new_due = _portal_time((await flow.get(flow.reception, did))["due_at"])
    assert new_due != due
    assert _told(portal)[3:] == [("4", new_due)]  # the code stays 4; the portal needs the new date

    sync = await client.get(f"/v1/dossiers/{did}/sync", headers=flow.reception.headers)
    assert [d["national_status_code"] for d in sync.json()["deliveries"]] == [1, 2, 4, 4]


async def test_a_replay_is_sent_even_when_it_says_nothing_new(  # type: ignore[no-untyped-def]
        client, flow, accounts, portal: PortalKit, monkeypatch: pytest.MonkeyPatch) -> None:
    did = await _in_processing(flow, monkeypatch)
    await portal.run()
    admin = await accounts.admin()
    assert (await client.post(f"/v1/integration/sync/{did}/replay", headers=admin.headers)).status_code == 202
    await portal.run()
    assert [code for code, _ in _told(portal)] == ["1", "2", "4", "4"]


async def test_a_step_after_a_message_that_went_dead_is_sent(  # type: ignore[no-untyped-def]
        flow, portal: PortalKit, settings_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dead code-4 message never reached the portal: the next step with code 4 is what tells it."""
    settings_env(DVC_NATIONAL_PORTAL_MAX_ATTEMPTS="1")
    set_clock(monkeypatch, 2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)
    await flow.act(flow.reception, did, "receive")
    await portal.run()
    await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))
    portal.fake.fail_next(1)
    await portal.run()
    assert [d.state for d in await deliveries(CONSUMER)][-1] == DEAD
    await flow.act(flow.processing, did, "appraise")
    await portal.run()
    assert [code for code, _ in _told(portal)] == ["1", "2", "4"]

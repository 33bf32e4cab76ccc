"""Reporting fixtures: the workflow's HTTP driver (`flow`), the fees driver (`fees`), a fixed clock, and a
hand-built month of dossiers whose indicator figures are worked out by hand in test_indicators.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from app.core import clock
from app.core.clock import LOCAL_TZ
from tests.fees.conftest import Fees
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import Accounts, Actor
from tests.support.workflow_fixtures import Flow

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[misc]


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def set(self, *args: int) -> None:
        moment = local(*args)
        self.monkeypatch.setattr(clock, "now", lambda: moment)


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture(autouse=True)
def _fresh_public_cache() -> Iterator[None]:
    from app.reporting.cache import public_cache

    public_cache.clear()
    yield
    public_cache.clear()


@pytest.fixture
def fees(accounts: Accounts, dossiers: Dossiers) -> Fees:
    return Fees(accounts, dossiers)


async def finish(flow: Flow, dossier_id: str) -> dict[str, Any]:
    """Appraise, approve and issue the (unsigned) result."""
    await flow.act(flow.processing, dossier_id, "appraise")
    await flow.act(flow.approval, dossier_id, "approve")
    result = await flow.upload_result(dossier_id, PDF)
    return await flow.act(flow.approval, dossier_id, "issue_result", attachments=[result])


async def supplement_round(flow: Flow, citizen: Actor, dossier_id: str) -> None:
    await flow.act(flow.processing, dossier_id, "request_supplement", items=["Bản sao giấy phép"])
    file_id = await flow.upload_supplement(citizen, dossier_id)
    await flow.act(citizen, dossier_id, "supplement", attachments=[file_id])


@dataclass
class Month:
    """March 2025 at one agency, as built by `march` (ids by role in the story)."""

    ids: dict[str, str] = field(default_factory=dict)
    citizens: dict[str, Actor] = field(default_factory=dict)
    procedures: list[str] = field(default_factory=list)


async def build_march(client: Any, flow: Flow, fees: Fees, at: Clock) -> Month:
    """Seven dossiers (DEFAULT_AGENCY, 5 working days; appraisal allowed 2 working days):
    on_time    received Mon 3 Mar, result Wed 5 Mar (due Mon 10 Mar 17:00), returned, rated 5;
    apologised received 3 Mar, apology moves the date to 12 Mar, result Tue 11 Mar: late against the original
               due date, appraisal (processing official) overran;
    twice      two supplement requests, result on time: late by the multi-supplement rule;
    desk       filed at the desk, received 3 Mar, assigned, still open on 20 Mar: overdue;
    open       received Mon 17 Mar, due Mon 24 Mar: open and on time on 20 Mar;
    paid       fee-bearing (other procedure), paid online on 17 Mar, received by the payment: open, on time;
    rejected   refused at reception, rated 2.
    """
    month = Month()
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5, step_time_limits=[{"step": "appraise", "working_days": 2}])
    fee_code = await fees.procedure()
    month.procedures = [code, fee_code]
    for name in ("on_time", "apologised", "twice", "rejected"):
        citizen, dossier = await flow.submitted(code)
        month.ids[name], month.citizens[name] = dossier["id"], citizen
    intake = await client.post("/v1/dossiers/intake", headers=flow.reception.headers, json={
        "procedure_code": code, "channel": "desk", "applicant": {"citizen_id": "001099012345", "name": "Bà Tư"}})
    assert intake.status_code == 201, intake.text
    desk = intake.json()["id"]
    for part in ("application_form", "id_copy"):
        assert (await flow.dossiers.upload(client, flow.reception, desk, part)).status_code == 201
    assert (await flow.dossiers.submit(client, flow.reception, desk)).status_code == 200
    month.ids["desk"] = desk

    at.set(2025, 3, 3, 9, 0)
    for name in ("on_time", "apologised", "twice", "desk"):
        await flow.to_processing(month.ids[name])
    await flow.act(flow.reception, month.ids["rejected"], "reject", reason="Không thuộc thẩm quyền")
    await finish(flow, month.ids["on_time"])
    await supplement_round(flow, month.citizens["twice"], month.ids["twice"])
    await supplement_round(flow, month.citizens["twice"], month.ids["twice"])
    await finish(flow, month.ids["twice"])
    at.set(2025, 3, 5, 10, 0)
    await flow.act(flow.processing, month.ids["apologised"], "apologise", reason="Cần xác minh thêm",
                   new_due_date="2025-03-12")
    at.set(2025, 3, 6, 10, 0)
    await flow.act(flow.reception, month.ids["on_time"], "return_result", delivery={"method": "desk"})
    at.set(2025, 3, 11, 10, 0)
    await finish(flow, month.ids["apologised"])

    at.set(2025, 3, 17, 9, 0)
    citizen, dossier = await flow.submitted(code)
    month.ids["open"] = dossier["id"]
    await flow.act(flow.reception, dossier["id"], "receive")
    paid_citizen, paid = await flow.submitted(fee_code)
    month.ids["paid"] = paid["id"]
    await flow.act(flow.reception, paid["id"], "request_payment")
    response = await client.post(f"/v1/dossiers/{paid['id']}/payments", headers=paid_citizen.headers,
                                 json={"provider": "fakepay", "return_url": "https://portal.example/return"})
    assert response.status_code == 201, response.text
    for callback in fees.bank.complete(response.json()["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    assert (await flow.get(paid_citizen, paid["id"]))["state"] == "received"

    at.set(2025, 3, 18, 9, 0)
    for name, score in (("on_time", 5), ("rejected", 2)):
        rated = await client.post(f"/v1/dossiers/{month.ids[name]}/rating", headers=month.citizens[name].headers,
                                  json={"score": score, "comment": "Cảm ơn"})
        assert rated.status_code == 201, rated.text
    at.set(2025, 3, 20, 10, 0)
    return month

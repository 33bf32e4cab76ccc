"""Step 2.3 and fees on the result, through the FeeGate seam (a recording fake stands in for app/fees)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.core.db import get_database
from app.core.problems import ProblemError
from app.workflow import hooks
from app.workflow.transitions import apply_system_action

BEFORE = [{"kind": "fee", "name": "Lệ phí cấp giấy chứng nhận", "amount": 150000, "due": "before_processing"},
          {"kind": "charge", "name": "Phí thẩm định", "amount": 500000, "due": "before_processing"}]
ON_RESULT = [{"kind": "fee", "name": "Lệ phí trả kết quả", "amount": 50000, "due": "on_result"}]


class RecordingGate(hooks.VersionFeeGate):
    """Fees exist as the version says; a stage is settled only when the test says so."""

    def __init__(self) -> None:
        self.paid: set[str] = set()
        self.created: list[tuple[uuid.UUID, str, uuid.UUID | None, list[hooks.Exemption]]] = []

    async def settled(self, session: Any, dossier: Any, stage: hooks.FeeStage) -> bool:
        return stage in self.paid or not await self.has_fees(session, dossier, stage)

    async def create_obligation(self, session: Any, dossier: Any, stage: hooks.FeeStage, *,
                                official_id: uuid.UUID | None, exemptions: list[hooks.Exemption]) -> None:
        self.created.append((dossier.id, stage, official_id, exemptions))


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> RecordingGate:
    fake = RecordingGate()
    monkeypatch.setattr(hooks, "_gate", fake)
    return fake


async def test_fees_before_processing_take_step_2_3(client, flow, gate):
    code = await flow.procedure(fee_items=BEFORE)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    assert "receive" not in (await flow.get(flow.reception, did))["next_actions"]
    unpaid = await flow.post(flow.reception, did, "receive")
    assert unpaid.status_code == 409 and unpaid.json()["code"] == "fees_unpaid"
    allowed = unpaid.json()["extra"]["allowed_actions"]
    assert "request_payment" in allowed and allowed == (await flow.get(flow.reception, did))["next_actions"]

    requested = await flow.act(flow.reception, did, "request_payment",
                               exemptions=[{"item": 1, "reason": "Hộ nghèo"}])
    assert (requested["state"], requested["national_status_code"]) == ("payment_requested", 6)
    assert requested["received_at"] is None and requested["due_at"] is None  # the clock has not started
    assert gate.created == [(uuid.UUID(did), "before_processing", flow.reception.id,
                             [hooks.Exemption(1, "Hộ nghèo")])]
    notice = (await flow.notices(citizen, did))[-1]
    assert notice["kind"] == "payment_request"
    assert [(f["amount"], f["exempt_reason"]) for f in notice["content"]["fees"]] == [(150000, None), (0, "Hộ nghèo")]

    by_finance = await flow.post(flow.finance, did, "confirm_payment")
    assert by_finance.status_code == 409 and by_finance.json()["code"] == "fees_unpaid"
    async with get_database().write_sessions() as session, session.begin():
        with pytest.raises(ProblemError) as caught:
            await apply_system_action(session, uuid.UUID(did), "confirm_payment")
    assert caught.value.code == "fees_unpaid"

    gate.paid.add("before_processing")
    async with get_database().write_sessions() as session, session.begin():
        confirmed = await apply_system_action(session, uuid.UUID(did), "confirm_payment",
                                              details={"payment_id": "pay-1"})
        assert confirmed.state == "received"
    after = await flow.get(citizen, did)
    assert (after["state"], after["national_status_code"]) == ("received", 2)
    assert after["due_at"] is not None and after["received_at"] is not None
    entry = (await flow.history(citizen, did))[-1]
    assert entry["actor"] == {"id": None, "kind": "system", "name": "system"}
    assert entry["details"]["payment_id"] == "pay-1" and entry["to_code"] == 2
    assert [n["kind"] for n in await flow.notices(citizen, did)] == ["payment_request", "receipt"]


async def test_request_payment_needs_fees_before_processing(flow, gate):
    code = await flow.procedure(fee_items=ON_RESULT)
    _, dossier = await flow.submitted(code)
    refused = await flow.post(flow.reception, dossier["id"], "request_payment")
    assert refused.status_code == 409 and refused.json()["code"] == "transition_not_allowed"
    assert (await flow.act(flow.reception, dossier["id"], "receive"))["state"] == "received"


async def test_fees_on_result_become_an_obligation_and_block_the_return(flow, gate):
    code = await flow.procedure(fee_items=ON_RESULT)
    _, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.approval, did, "approve")
    result_id = await flow.upload_result(did, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n%%EOF\n")
    await flow.act(flow.approval, did, "issue_result", attachments=[result_id])
    assert gate.created[-1][:3] == (uuid.UUID(did), "on_result", flow.approval.id)
    assert "return_result" not in (await flow.get(flow.reception, did))["next_actions"]
    blocked = await flow.post(flow.reception, did, "return_result", delivery={"method": "desk"})
    assert blocked.status_code == 409 and blocked.json()["code"] == "fees_unpaid"
    gate.paid.add("on_result")
    returned = await flow.act(flow.reception, did, "return_result", delivery={"method": "desk"})
    assert returned["state"] == "returned"


async def test_no_fee_workflow_has_no_payment_step(flow, gate):
    code = await flow.procedure(workflow="no_fee")
    _, dossier = await flow.submitted(code)
    assert (await flow.get(flow.reception, dossier["id"]))["next_actions"] == ["receive", "reject",
                                                                              "request_supplement"]
    missing = await flow.post(flow.reception, dossier["id"], "request_payment")
    assert missing.status_code == 409
    assert (await flow.act(flow.reception, dossier["id"], "receive"))["national_status_code"] == 2

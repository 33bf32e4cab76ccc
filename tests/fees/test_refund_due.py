"""Money held for a dossier that ended without being processed is findable: `refund_due` in the fee view and
finance's `GET /v1/payments?refund_due=true`. Before, a dossier withdrawn, rejected or stopped after its fees were
paid kept the money, and nothing told finance (the payment carried no flag: it was paid while the dossier was
open)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core import clock
from app.core.pdf import render_document
from app.fees.models import CLOSED_DOSSIER_STATES
from app.workflow.definition import definitions
from tests.fees.conftest import BEFORE_TOTAL, FEE_ITEMS, Case, Fees
from tests.support.workflow_fixtures import Flow


def _agency() -> str:
    """An agency of the test's own: finance's queue then lists this test's payments only."""
    return f"000.{uuid.uuid4().int % 100:02d}.{uuid.uuid4().int % 100:02d}.R{uuid.uuid4().int % 100:02d}"


def _reject_after_payment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped definitions reject only before step 2.3, but a definition is data: one whose reception may still
    refuse a received dossier (after its fees were paid) is how a `rejected` dossier comes to hold money."""
    standard = definitions()["standard"]
    reject = standard.actions["reject"].model_copy(update={"from_states": ("submitted", "received")})
    monkeypatch.setitem(definitions(), "standard",
                        standard.model_copy(update={"actions": {**standard.actions, "reject": reject}}))


async def _end(client: httpx.AsyncClient, fees: Fees, case: Case, agency: str, ending: str) -> None:
    """Take the paid (received) dossier to the final state `ending` names, as the workflow does."""
    if ending == "withdraw":
        response = await fees.transition(client, case, case.citizen, "withdraw", reason="Không còn nhu cầu")
    elif ending == "reject":
        response = await fees.transition(client, case, case.reception, "reject", reason="Không thuộc thẩm quyền")
    else:
        processing = await fees.accounts.official(agency, ["processing"])
        assigned = await fees.transition(client, case, case.reception, "assign", assignee=str(processing.id))
        assert assigned.status_code == 200, assigned.text
        response = await fees.transition(client, case, processing, "stop", reason="Thuộc trường hợp dừng xử lý")
    assert response.status_code == 200, response.text


async def _queue(client: httpx.AsyncClient, case: Case, refund_due: bool) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/payments?refund_due={str(refund_due).lower()}", headers=case.finance.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _refund(client: httpx.AsyncClient, case: Case, payment_id: str, amount: int, expected: int) -> None:
    response = await client.post(f"/v1/payments/{payment_id}/refunds", headers=case.finance.headers,
                                 json={"amount": amount, "reason": "Hồ sơ không được giải quyết",
                                       "expected_available": expected})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("ending", "state"), [("withdraw", "withdrawn"), ("reject", "rejected"),
                                               ("stop", "stopped")])
async def test_money_paid_for_a_dossier_that_ended_unprocessed_is_due_back(
        client: httpx.AsyncClient, fees: Fees, monkeypatch: pytest.MonkeyPatch, ending: str, state: str) -> None:
    _reject_after_payment(monkeypatch)
    agency = _agency()
    case = await fees.case(client, agency_code=agency)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    for callback in fees.bank.complete(attempt["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    assert await fees.state(client, case) == "received"
    view = await fees.fees_of(client, case)
    assert view["refund_due"] == 0 and view["obligations"][0]["refund_due"] == 0  # still to be processed
    assert await _queue(client, case, True) == []

    await _end(client, fees, case, agency, ending)
    assert await fees.state(client, case) == state
    for actor in (case.citizen, case.finance):  # the applicant sees what is owed back too
        view = await fees.fees_of(client, case, actor)
        assert (view["paid"], view["refund_due"]) == (BEFORE_TOTAL, BEFORE_TOTAL)
        assert [o["refund_due"] for o in view["obligations"]] == [BEFORE_TOTAL]
    [due] = await _queue(client, case, True)
    assert (due["id"], due["refundable"], due["flag"]) == (attempt["id"], BEFORE_TOTAL, None)
    assert await _queue(client, case, False) == []

    # Nothing was refunded by itself; finance refunds through the refund endpoint, and the flag follows.
    await _refund(client, case, attempt["id"], 200000, BEFORE_TOTAL)
    assert (await fees.fees_of(client, case))["refund_due"] == BEFORE_TOTAL - 200000
    assert [p["refundable"] for p in await _queue(client, case, True)] == [BEFORE_TOTAL - 200000]
    await _refund(client, case, attempt["id"], BEFORE_TOTAL - 200000, BEFORE_TOTAL - 200000)
    view = await fees.fees_of(client, case)
    assert (view["refunded"], view["refund_due"], view["obligations"][0]["refund_due"]) == (BEFORE_TOTAL, 0, 0)
    assert await _queue(client, case, True) == []
    assert [p["id"] for p in await _queue(client, case, False)] == [attempt["id"]]


async def test_money_that_was_not_credited_is_due_back_too(client: httpx.AsyncClient, fees: Fees,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A first attempt expires, a second one pays the fees, the applicant withdraws, then the first one's success
    arrives late: not credited (flag `overpayment`), it is held for the ended dossier all the same."""
    case = await fees.case(client, agency_code=_agency())
    await fees.request_payment(client, case)
    first = await fees.pay(client, case)
    later = clock.now() + timedelta(minutes=91)
    monkeypatch.setattr(clock, "now", lambda: later)
    second = await fees.pay(client, case)  # the expired first attempt no longer blocks
    for callback in fees.bank.complete(second["provider_ref"]):
        assert (await fees.deliver(client, callback)).json()["outcome"] == "credited"
    withdrawn = await fees.transition(client, case, case.citizen, "withdraw", reason="Không còn nhu cầu")
    assert withdrawn.status_code == 200, withdrawn.text
    [late] = fees.bank.complete(first["provider_ref"])
    assert (await fees.deliver(client, late)).json()["outcome"] == "overpayment"

    view = await fees.fees_of(client, case)
    assert (view["paid"], view["refund_due"]) == (BEFORE_TOTAL, 2 * BEFORE_TOTAL)  # paid counts credited money
    queue = await _queue(client, case, True)
    assert [(p["id"], p["credited"], p["refundable"]) for p in queue] == [
        (second["id"], True, BEFORE_TOTAL), (first["id"], False, BEFORE_TOTAL)]  # newest first
    await _refund(client, case, first["id"], BEFORE_TOTAL, BEFORE_TOTAL)
    assert (await fees.fees_of(client, case))["refund_due"] == BEFORE_TOTAL
    assert [p["id"] for p in await _queue(client, case, True)] == [second["id"]]


async def test_a_returned_dossier_holds_nothing_to_refund(client: httpx.AsyncClient, fees: Fees, flow: Flow) -> None:
    """`returned` is final too, but the dossier was processed: its fees were earned."""
    agency = _agency()
    await flow.officials(agency)
    code = await flow.procedure(agency, fee_items=FEE_ITEMS)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    case = Case(citizen, flow.reception, flow.finance, dossier, code)
    await fees.request_payment(client, case)
    counter = f"/v1/dossiers/{did}/payments/counter"
    paid = [await client.post(counter, headers=flow.finance.headers, json={"receipt_number": f"R-{uuid.uuid4().hex}"})]
    await flow.act(flow.reception, did, "assign", assignee=str(flow.processing.id))
    await flow.act(flow.approval, did, "approve")
    result = await flow.upload_result(did, render_document(issuer="Sở KH&CN", title="Giấy chứng nhận"))
    await flow.act(flow.approval, did, "issue_result", attachments=[result])
    paid.append(await client.post(counter, headers=flow.finance.headers,
                                  json={"receipt_number": f"R-{uuid.uuid4().hex}"}))  # the on-result fee
    assert [r.status_code for r in paid] == [201, 201], [r.text for r in paid]
    returned = await flow.act(flow.reception, did, "return_result", delivery={"method": "desk"})
    assert returned["state"] == "returned"
    view = await fees.fees_of(client, case)
    assert view["paid"] == BEFORE_TOTAL + 20000 and view["refund_due"] == 0
    assert [o["refund_due"] for o in view["obligations"]] == [0, 0]
    assert await _queue(client, case, True) == []
    assert {p["id"] for p in await _queue(client, case, False)} == {r.json()["id"] for r in paid}


def test_the_states_that_flag_are_the_final_states_but_returned() -> None:
    """A final state added to a workflow definition must be placed on one side or the other: money held for a
    dossier that ended there is either due back or earned."""
    for definition in definitions().values():
        final = {name for name, spec in definition.states.items() if spec.terminal}
        assert final - {"returned"} == CLOSED_DOSSIER_STATES, definition.key


def test_the_queue_index_is_the_migrations_index() -> None:
    """Alembic's check does not compare partial-index predicates: the model's and the migration's must be the same
    text, which the filter in app.fees.refund_due repeats so that the planner can use the index."""
    import importlib

    from app.fees.models import HOLDING_SQL, PaymentAttempt

    migration = importlib.import_module("app.migrations.versions.0022_refundable_payments_index")
    [index] = [i for i in PaymentAttempt.__table__.indexes if i.name == "ix_payment_attempts_holding"]
    assert migration._HOLDING == HOLDING_SQL == str(index.dialect_options["postgresql"]["where"])

"""A hypothesis state machine over the fees services: pay, callbacks (duplicated, reordered, wrong amount,
never sent), an order paid a second time, desk payments, refunds of payments and of surpluses (right and stale
expectations), reconciliation, and time passing.

After every step: paid <= due and refunded <= paid per obligation, paid is exactly the sum of credited
attempts, refunded is exactly what credited attempts gave back, and at most one attempt is live; each surplus
has 0 <= refunded <= amount, exactly what its refunds hold, and is never the transaction its attempt was
credited with; a payment's own refunds alone make its `refunded`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select

from app.core import clock
from app.core.db import close_database, get_database
from app.core.problems import ProblemError
from app.dossiers.models import Dossier
from app.fees import payments, refunds
from app.fees.callbacks import handle_callback
from app.fees.models import LIVE_STATES, FeeLine, FeeObligation, PaymentAttempt, PaymentSurplus, Refund
from app.fees.providers.base import CallbackRequest
from app.fees.providers.fakepay import FakePayBank, FakePayProvider, SignedCallback
from app.fees.reconcile import reconcile

AGENCY = "000.00.55.H55"
DUE = 300000
_real_now = clock.now


class FeesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.offset = timedelta(0)
        clock.now = self._now  # type: ignore[assignment]
        self.bank = FakePayBank()
        self.provider = FakePayProvider(self.bank)
        self.sent: list[SignedCallback] = []
        self.refs: list[str] = []
        self.official = uuid.uuid4()
        self.dossier_id, self.obligation_id = self.run(self._setup())

    def _now(self) -> datetime:
        return _real_now() + self.offset

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _setup(self) -> tuple[uuid.UUID, uuid.UUID]:
        from app.catalogue import service
        from app.catalogue.schemas import AgencyIn
        from app.identity.models import Account
        from tests.support.catalogue_fixtures import ADMIN

        async with get_database().write_sessions() as session, session.begin():
            if await service.get_agency(session, AGENCY) is None:
                await service.create_agency(session, ADMIN, AgencyIn(code=AGENCY, name="Sở thử", level="department"))
            session.add(Account(id=self.official, kind="official", status="active", name="Kế toán",
                                agency_code=AGENCY, roles=["finance"]))
            dossier = Dossier(procedure_code="x", procedure_version=1, procedure_name="Thủ tục",
                              agency_code=AGENCY, agency_name="Sở thử", applicant_kind="citizen",
                              channel="online", source="online", delivery_method="online", state="submitted")
            session.add(dossier)
            await session.flush()
            obligation = FeeObligation(dossier_id=dossier.id, stage="before_processing", due=DUE, paid=0,
                                       refunded=0, created_at=clock.now(),
                                       lines=[FeeLine(position=0, item_index=0, kind="fee", name="Lệ phí",
                                                      amount=DUE)])
            session.add(obligation)
            await session.flush()
            return dossier.id, obligation.id

    async def _write(self, work: Any) -> Any:
        async with get_database().write_sessions() as session:  # as a request's session: work may commit too
            try:
                result = await work(session)
                await session.commit()
                return result
            except BaseException:
                await session.rollback()
                raise

    def teardown(self) -> None:
        clock.now = _real_now  # type: ignore[assignment]
        self.run(close_database())
        self.loop.close()

    # --- rules ------------------------------------------------------------------------------------------------
    @rule()
    def pay(self) -> None:
        from app.fees.payments import start_payment

        async def work(session: Any) -> None:
            dossier = await session.get(Dossier, self.dossier_id)
            attempt = await start_payment(session, dossier, provider_name="fakepay",
                                          return_url="https://x.example/r", payer_id=self.official)
            self.refs.append(attempt.provider_ref)

        from app.fees.providers import use_provider

        use_provider("fakepay", self.provider)
        try:
            self.run(self._write(work))
        except ProblemError as error:
            assert error.code in ("payment_in_progress", "nothing_to_pay")
        finally:
            use_provider("fakepay", None)

    @precondition(lambda self: bool(self.refs))
    @rule(data=st.data(), outcome=st.sampled_from(["succeeded", "succeeded", "failed", "cancelled"]),
          mode=st.sampled_from(["normal", "duplicate", "reorder", "never"]), short=st.integers(0, 2))
    def provider_answers(self, data: st.DataObject, outcome: str, mode: str, short: int) -> None:
        ref = data.draw(st.sampled_from(self.refs))
        order = self.bank.order(ref)
        assert order is not None
        amount = order["amount"] - (1000 if short == 2 else 0)  # sometimes a wrong amount
        callbacks = self.bank.complete(ref, outcome, mode=mode, amount=amount)  # type: ignore[arg-type]
        for callback in callbacks:
            self.deliver(callback)

    def deliver(self, callback: SignedCallback) -> None:
        self.sent.append(callback)
        request = CallbackRequest(headers=callback.headers, query={}, body=callback.body)
        self.run(self._write(lambda session: handle_callback(session, self.provider, request)))

    @precondition(lambda self: bool(self.refs))
    @rule(data=st.data(), short=st.booleans())
    def pay_again(self, data: st.DataObject, short: bool) -> None:
        """The payer pays an order once more, as a new provider transaction (sometimes for a wrong amount)."""
        ref = data.draw(st.sampled_from(self.refs))
        order = self.bank.order(ref)
        assert order is not None
        self.deliver(self.bank.pay_again(ref, amount=order["amount"] - (1000 if short else 0)))

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def replay_callback(self, data: st.DataObject) -> None:
        self.deliver(data.draw(st.sampled_from(self.sent)))

    @rule(fraction=st.sampled_from([0.25, 0.5, 1.0]))
    def pay_at_desk(self, fraction: float) -> None:
        async def work(session: Any) -> None:
            dossier = await session.get(Dossier, self.dossier_id)
            obligation = await session.get(FeeObligation, self.obligation_id)
            amount = max(1, int((obligation.due - obligation.paid) * fraction))
            await payments.counter_payment(session, dossier, official_id=self.official,
                                           receipt_number=f"Q{uuid.uuid4().hex[:8]}", amount=amount)

        try:
            self.run(self._write(work))
        except ProblemError as error:
            assert error.code in ("payment_in_progress", "nothing_to_pay", "validation_error")

    @rule(data=st.data(), stale=st.booleans(), part=st.sampled_from([1, 2, 3]))
    def refund(self, data: st.DataObject, stale: bool, part: int) -> None:
        """Refund a succeeded payment's own money, or a surplus (money reported that was not credited)."""
        async def refundable(session: Any) -> list[tuple[uuid.UUID, uuid.UUID | None, int]]:
            # Only this machine's attempts: rows of earlier examples stay in the database, and drawing from them
            # would make the draw depend on history (hypothesis reports that as a flaky strategy).
            attempts = (await session.execute(select(PaymentAttempt).where(
                PaymentAttempt.obligation_id == self.obligation_id,
                PaymentAttempt.state == "succeeded").order_by(PaymentAttempt.id))).scalars()
            surpluses = (await session.execute(
                select(PaymentSurplus).join(PaymentAttempt, PaymentAttempt.id == PaymentSurplus.attempt_id)
                .where(PaymentAttempt.obligation_id == self.obligation_id)
                .order_by(PaymentSurplus.created_at, PaymentSurplus.id))).scalars()
            return ([(a.id, None, a.amount - a.refunded) for a in attempts]
                    + [(s.attempt_id, s.id, s.amount - s.refunded) for s in surpluses])

        candidates = self.run(self._write(refundable))
        if not candidates:
            return
        attempt_id, surplus_id, available = data.draw(st.sampled_from(candidates))
        expected = available + 1 if stale else available
        amount = max(1, available // part)

        async def work(session: Any) -> None:
            await refunds.refund_payment(session, attempt_id, amount=amount, reason="thử", official_id=self.official,
                                         expected_available=expected, surplus_id=surplus_id)

        try:
            self.run(self._write(work))
            assert not stale
        except ProblemError as error:
            assert error.code in ("refund_amount_mismatch", "validation_error")

    @rule()
    def reconcile_pass(self) -> None:
        from app.fees.providers import use_provider

        use_provider("fakepay", self.provider)
        try:
            self.run(reconcile(older_than_s=0))
        finally:
            use_provider("fakepay", None)

    @rule(minutes=st.sampled_from([10, 95]))
    def time_passes(self, minutes: int) -> None:
        self.offset += timedelta(minutes=minutes)

    # --- invariants ---------------------------------------------------------------------------------------------
    @invariant()
    def money_adds_up(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        async with get_database().read_sessions() as session:
            obligation = (await session.execute(select(FeeObligation).where(
                FeeObligation.id == self.obligation_id))).scalar_one()
            attempts = list((await session.execute(select(PaymentAttempt).where(
                PaymentAttempt.obligation_id == self.obligation_id))).scalars())
            ids = [a.id for a in attempts]
            surpluses = list((await session.execute(select(PaymentSurplus).where(
                PaymentSurplus.attempt_id.in_(ids)))).scalars())
            holding = list((await session.execute(select(Refund).where(
                Refund.attempt_id.in_(ids), Refund.state.in_(("submitted", "succeeded"))))).scalars())
        assert 0 <= obligation.refunded <= obligation.paid <= obligation.due
        assert obligation.paid == sum(a.amount for a in attempts if a.credited)
        assert obligation.refunded == sum(a.refunded for a in attempts if a.credited)
        assert all(0 <= a.refunded <= a.amount for a in attempts)
        assert all(a.state == "succeeded" for a in attempts if a.credited)
        assert sum(1 for a in attempts if a.state in LIVE_STATES) <= 1
        assert all(s.amount > 0 and 0 <= s.refunded <= s.amount for s in surpluses)
        assert all(s.refunded == sum(r.amount for r in holding if r.surplus_id == s.id) for s in surpluses)
        assert all(a.refunded == sum(r.amount for r in holding if r.attempt_id == a.id and r.surplus_id is None)
                   for a in attempts)
        credited_with = {a.id: a.provider_txn_id for a in attempts if a.state == "succeeded"}
        assert not any(s.provider_txn_id is not None and credited_with.get(s.attempt_id) == s.provider_txn_id
                       for s in surpluses)


FeesMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)


def test_money_invariants(database_url: str) -> None:
    FeesMachine.TestCase().runTest()

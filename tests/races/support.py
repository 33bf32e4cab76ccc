"""Helpers shared by the race tests: many dossiers at step 2.3 under one procedure, and the checks every race
ends with (no 5xx, money credited at most once, history intact).

PostgreSQL is where these races can happen: SQLite's write transactions start with BEGIN IMMEDIATE, so two
writers never interleave there (a test that needs an interleaving inside a transaction is PostgreSQL only)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from app.core.db import get_database
from app.fees.models import FeeObligation, PaymentAttempt, PaymentSurplus, Refund
from tests.fees.conftest import Case, Fees
from tests.support.identity_fixtures import DEFAULT_AGENCY, Actor
from tests.support.paging import every_item

T = TypeVar("T")
POSTGRES = bool(os.environ.get("DVC_TEST_DATABASE_URL"))
postgres_only = pytest.mark.skipif(
    not POSTGRES, reason="SQLite's BEGIN IMMEDIATE serialises whole write transactions: the race cannot happen")
ROUNDS = 5


@dataclass
class Paying:
    """A dossier at step 2.3 with a started fakepay attempt."""

    case: Case
    attempt: dict[str, Any]

    @property
    def ref(self) -> str:
        return str(self.attempt["provider_ref"])

    @property
    def pid(self) -> str:
        return str(self.attempt["id"])


async def cases(client: httpx.AsyncClient, fees: Fees, n: int) -> list[Case]:
    """`n` submitted dossiers of one fee-charging procedure, filed by one citizen (built concurrently)."""
    code = await fees.procedure()
    citizen = await fees.accounts.citizen()
    reception = await fees.accounts.official(DEFAULT_AGENCY, ["reception"])
    finance = await fees.accounts.official(DEFAULT_AGENCY, ["finance"])
    filed = await asyncio.gather(*(fees.dossiers.submitted(client, citizen, code) for _ in range(n)))
    return [Case(citizen, reception, finance, dossier, code) for dossier in filed]


async def paying(client: httpx.AsyncClient, fees: Fees, n: int) -> list[Paying]:
    """`n` dossiers at step 2.3 (payment_requested), each with a started online attempt for the whole balance."""

    async def started(case: Case) -> Paying:
        await fees.request_payment(client, case)
        return Paying(case, await fees.pay(client, case))

    return list(await asyncio.gather(*(started(case) for case in await cases(client, fees, n))))


async def withdraw(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    """The applicant withdraws, with the ETag read just before (as a browser would)."""
    read = await client.get(f"/v1/dossiers/{case.id}", headers=case.citizen.headers)
    assert read.status_code == 200, read.text
    return await client.post(f"/v1/dossiers/{case.id}/transitions", json={"action": "withdraw"},
                             headers={**case.citizen.headers, "If-Match": read.headers["ETag"]})


def no_server_error(*responses: httpx.Response) -> None:
    for response in responses:
        assert response.status_code < 500, (response.request.url, response.status_code, response.text)


def code_of(response: httpx.Response) -> str | None:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return str(response.json().get("code"))
    return None


@dataclass
class Money:
    """What the database holds for one dossier's before-processing obligation and its attempts."""

    due: int
    paid: int
    refunded: int
    attempts: list[PaymentAttempt]
    surpluses: list[PaymentSurplus]
    refunds: list[Refund]

    @property
    def credited(self) -> list[PaymentAttempt]:
        return [a for a in self.attempts if a.credited]


async def money_of(dossier_id: str) -> Money:
    async with get_database().read_sessions() as session:
        did = uuid.UUID(dossier_id)
        [obligation] = (await session.execute(select(FeeObligation).where(FeeObligation.dossier_id == did)
                                              .where(FeeObligation.stage == "before_processing"))).scalars().all()
        attempts = list((await session.execute(select(PaymentAttempt).where(PaymentAttempt.dossier_id == did)
                                               .order_by(PaymentAttempt.created_at))).scalars().all())
        ids = [a.id for a in attempts]
        surpluses = list((await session.execute(select(PaymentSurplus).where(
            PaymentSurplus.attempt_id.in_(ids)))).scalars().all()) if ids else []
        refunds = list((await session.execute(select(Refund).where(Refund.attempt_id.in_(ids))))
                       .scalars().all()) if ids else []
    return Money(obligation.due, obligation.paid, obligation.refunded, attempts, surpluses, refunds)


def money_is_consistent(money: Money) -> None:
    """paid is the sum of credited attempts (each credited once), refunds within what was taken."""
    assert money.paid == sum(a.amount for a in money.credited) <= money.due
    assert all(a.state == "succeeded" for a in money.credited)
    assert 0 <= money.refunded <= money.paid
    assert money.refunded == sum(a.refunded for a in money.credited)
    for attempt in money.attempts:
        assert 0 <= attempt.refunded <= attempt.amount
        own = [r for r in money.refunds if r.attempt_id == attempt.id and r.surplus_id is None
               and r.state != "failed"]
        assert attempt.refunded == sum(r.amount for r in own)
    for surplus in money.surpluses:
        drawn = [r for r in money.refunds if r.surplus_id == surplus.id and r.state != "failed"]
        assert surplus.refunded == sum(r.amount for r in drawn) <= surplus.amount


async def history_actions(client: httpx.AsyncClient, case: Case) -> list[str]:
    entries = await every_item(client, f"/v1/dossiers/{case.id}/history", case.citizen.headers)
    verify = await client.get(f"/v1/dossiers/{case.id}/history/verify", headers=case.citizen.headers)
    assert verify.json()["valid"] is True, verify.text
    return [str(e["action"]) for e in entries]


async def later(awaitable: Awaitable[T], delay_s: float) -> T:
    """Start `awaitable` after `delay_s`: rounds stagger one side so that both orders (and the overlaps
    between them) occur; nothing is asserted on which order happened."""
    await asyncio.sleep(delay_s)
    return await awaitable


def stagger(round_no: int, step_s: float = 0.004, spread: int = 6) -> tuple[float, float]:
    """Delays for the (first, second) operation of round `round_no`: round 0 starts both at once, then one side
    and the other are held back in turn, a step longer every two rounds."""
    delay = ((round_no + 1) // 2 % spread) * step_s
    return (delay, 0.0) if round_no % 2 else (0.0, delay)


async def refund(client: httpx.AsyncClient, finance: Actor, payment_id: str, amount: int, expected: int,
                 surplus_id: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"amount": amount, "reason": "Hồ sơ đã rút", "expected_available": expected}
    if surplus_id is not None:
        body["surplus_id"] = surplus_id
    return await client.post(f"/v1/payments/{payment_id}/refunds", headers=finance.headers, json=body)


async def payment(client: httpx.AsyncClient, actor: Actor, payment_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/payments/{payment_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def flagged_ids(client: httpx.AsyncClient, finance: Actor) -> set[str]:
    """The payments in finance's queue of payments needing an operator."""
    response = await client.get("/v1/payments?flagged=true&limit=200", headers=finance.headers)
    assert response.status_code == 200, response.text
    return {str(item["id"]) for item in response.json()["items"]}

"""Fixtures for the fees domain: a procedure with fee items, a submitted dossier, step 2.3, fakepay callbacks.

    async def test_x(client, fees):
        case = await fees.case(client)                        # citizen, reception, finance, submitted dossier
        await fees.request_payment(client, case)              # step 2.3 through the workflow's transition API
        pay = await fees.pay(client, case)                    # POST /payments with fakepay -> attempt
        for cb in fees.bank.complete(pay["provider_ref"]):    # the bank's signed callbacks, delivered by the test
            await fees.deliver(client, cb)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core import clock
from app.fees.providers import use_provider
from app.fees.providers.fakepay import FakePayBank, SignedCallback
from app.fees.providers.vnpay import VnpayProvider
from tests.fees.vnpay_support import SECRET, TMN
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts, Actor

CALLBACK = "/v1/payments/providers/fakepay/callback"
FEE_ITEMS: list[dict[str, Any]] = [
    {"kind": "fee", "name": "Lệ phí cấp giấy chứng nhận", "amount": 150000, "due": "before_processing"},
    {"kind": "charge", "name": "Phí thẩm định", "amount": 350000, "due": "before_processing"},
    {"kind": "fee", "name": "Lệ phí trả kết quả", "amount": 20000, "due": "on_result"},
]
BEFORE_TOTAL = 500000


@dataclass
class Case:
    citizen: Actor
    reception: Actor
    finance: Actor
    dossier: dict[str, Any]
    procedure_code: str

    @property
    def id(self) -> str:
        return str(self.dossier["id"])


class Fees:
    def __init__(self, accounts: Accounts, dossiers: Dossiers) -> None:
        self.accounts = accounts
        self.dossiers = dossiers
        self.bank = FakePayBank()

    async def procedure(self, fee_items: list[dict[str, Any]] | None = None,
                        agency_code: str = DEFAULT_AGENCY) -> str:
        """A published procedure with fee items (through the catalogue services)."""
        return await self.dossiers.procedure(agency_code, channels=("online", "desk"),
                                             fee_items=FEE_ITEMS if fee_items is None else fee_items)

    async def case(self, client: httpx.AsyncClient, fee_items: list[dict[str, Any]] | None = None,
                   agency_code: str = DEFAULT_AGENCY) -> Case:
        code = await self.procedure(fee_items, agency_code)
        citizen = await self.accounts.citizen()
        reception = await self.accounts.official(agency_code, ["reception"])
        finance = await self.accounts.official(agency_code, ["finance"])
        dossier = await self.dossiers.submitted(client, citizen, code)
        return Case(citizen, reception, finance, dossier, code)

    async def transition(self, client: httpx.AsyncClient, case: Case, actor: Actor, action: str,
                         **body: Any) -> httpx.Response:
        current = await client.get(f"/v1/dossiers/{case.id}", headers=actor.headers)
        assert current.status_code == 200, current.text
        return await client.post(f"/v1/dossiers/{case.id}/transitions",
                                 headers={**actor.headers, "If-Match": current.headers["ETag"]},
                                 json={"action": action, **body})

    async def request_payment(self, client: httpx.AsyncClient, case: Case,
                              exemptions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        response = await self.transition(client, case, case.reception, "request_payment",
                                         exemptions=exemptions or [])
        assert response.status_code == 200, response.text
        # payment_requested; received at once when every line was exempted (nothing to pay)
        assert response.json()["state"] in ("payment_requested", "received"), response.text
        return dict(response.json())

    async def pay(self, client: httpx.AsyncClient, case: Case, *, key: str | None = None,
                  provider: str = "fakepay") -> dict[str, Any]:
        response = await self.pay_response(client, case, key=key, provider=provider)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def pay_response(self, client: httpx.AsyncClient, case: Case, *, key: str | None = None,
                           provider: str = "fakepay") -> httpx.Response:
        headers = {**case.citizen.headers, **({"Idempotency-Key": key} if key else {})}
        return await client.post(f"/v1/dossiers/{case.id}/payments", headers=headers,
                                 json={"provider": provider, "return_url": "https://portal.example/return"})

    async def deliver(self, client: httpx.AsyncClient, callback: SignedCallback) -> httpx.Response:
        return await client.post(CALLBACK, content=callback.body, headers=callback.headers)

    async def fees_of(self, client: httpx.AsyncClient, case: Case, actor: Actor | None = None) -> dict[str, Any]:
        response = await client.get(f"/v1/dossiers/{case.id}/fees", headers=(actor or case.citizen).headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def state(self, client: httpx.AsyncClient, case: Case) -> str:
        response = await client.get(f"/v1/dossiers/{case.id}", headers=case.citizen.headers)
        return str(response.json()["state"])

    async def paid_case(self, client: httpx.AsyncClient) -> tuple[Case, dict[str, Any]]:
        """A dossier whose before-processing fees were paid online (one callback)."""
        case = await self.case(client)
        await self.request_payment(client, case)
        attempt = await self.pay(client, case)
        for callback in self.bank.complete(attempt["provider_ref"]):
            assert (await self.deliver(client, callback)).status_code == 200
        return case, attempt


async def payment_of(client: httpx.AsyncClient, case: Case, payment_id: str) -> dict[str, Any]:
    """GET /v1/payments/{id} as the case's finance official."""
    response = await client.get(f"/v1/payments/{payment_id}", headers=case.finance.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def later(monkeypatch: pytest.MonkeyPatch, **delta: float) -> None:
    """The service's clock moved on by `delta` (timedelta's arguments) for the rest of the test."""
    moment = clock.now() + timedelta(**delta)
    monkeypatch.setattr(clock, "now", lambda: moment)


@pytest.fixture
def fees(accounts: Accounts, dossiers: Dossiers) -> Fees:
    return Fees(accounts, dossiers)


@pytest.fixture
def vnpay() -> Iterator[VnpayProvider]:
    """VNPAY configured for the test (VNPAY's sandbox terminal and key, tests.fees.vnpay_support), then removed."""
    provider = VnpayProvider(tmn_code=TMN, hash_secret=SECRET, payment_url="https://sandbox.vnpayment.vn/pay",
                             api_url="https://sandbox.vnpayment.vn/api")
    use_provider("vnpay", provider)
    yield provider
    use_provider("vnpay", None)

"""fakepay: a faithful local payment provider for development and tests.

It behaves like a hosted-checkout gateway: `create` registers an order in the bank's own ledger (files under
DVC_VAR_DIR/fakepay, so another process — `dvc payments reconcile` — can query it), the payer finishes on the
checkout page (served by the app in DVC_ENV=dev only), and the bank then posts signed callbacks
asynchronously. It can be told to duplicate, delay, reorder, fail or never send them.

Callback wire format: JSON body {event_id, order_ref, transaction_id, status, amount, occurred_at}; headers
`X-FakePay-Timestamp` (unix seconds) and `X-FakePay-Signature` = hex HMAC-SHA256(secret, f"{ts}." + body).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi.responses import JSONResponse
from starlette.responses import Response

from app.core import clock
from app.core.problems import ProblemError
from app.core.settings import get_settings
from app.fees.providers.base import (
    MAX_AMOUNT,
    CallbackEvent,
    CallbackOutcome,
    CallbackRejected,
    CallbackRequest,
    CreatedPayment,
    PaymentOrder,
    ProviderStatus,
    RefundOrder,
    RefundResult,
    storable_id,
)

log = logging.getLogger("app.fees.fakepay")

Mode = Literal["normal", "duplicate", "delay", "reorder", "never"]
Outcome = Literal["succeeded", "failed", "cancelled"]
TIMESTAMP_HEADER = "X-FakePay-Timestamp"
SIGNATURE_HEADER = "X-FakePay-Signature"
CALLBACK_CHALLENGE = f'HMAC-SHA256 realm="fakepay", headers="{TIMESTAMP_HEADER} {SIGNATURE_HEADER}"'
CHECKOUT_PATH = "/dev/fakepay/checkout/{ref}"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # json.loads would take NaN and Infinity


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedCallback:
    body: bytes
    headers: dict[str, str]


class FakePayBank:
    """The provider's side: its ledger of orders, and the callbacks it would send."""

    def __init__(self, secret: str | None = None, ledger_dir: Path | None = None) -> None:
        settings = get_settings()
        self.secret = secret if secret is not None else settings.fakepay_secret
        self.ledger_dir = ledger_dir or Path(settings.var_dir) / "fakepay"
        self.fail_refunds = False

    # --- ledger ---------------------------------------------------------------------------------------------
    def _path(self, ref: str) -> Path:
        safe = "".join(c for c in ref if c.isalnum() or c in "-_")
        return self.ledger_dir / f"{safe}.json"

    def order(self, ref: str) -> dict[str, Any] | None:
        path = self._path(ref)
        return json.loads(path.read_text()) if path.exists() else None

    def _save(self, order: dict[str, Any]) -> None:
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        path = self._path(order["ref"])
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(order))
        os.replace(temporary, path)  # atomic: a reader sees the old order or the new one

    def open_order(self, ref: str, amount: int, return_url: str) -> None:
        self._save({"ref": ref, "amount": amount, "return_url": return_url, "status": "pending",
                    "txn_id": None, "paid_amount": None, "refunded": 0})

    def refund(self, ref: str, refund_id: str, amount: int, txn_id: str | None = None) -> RefundResult:
        """Refund part of a paid transaction of the order (its first one unless `txn_id` names a later one) once
        per refund id: a repeated id answers the first outcome. A transaction the bank does not know fails."""
        order = self.order(ref)
        if order is None:
            return RefundResult("failed")
        later = order.get("later_transactions", {})
        # The transaction's ledger entry: the order itself for its first transaction, else the later one's.
        paid = order if txn_id in (None, order["txn_id"]) else later.get(txn_id)
        if paid is None or paid["status"] != "succeeded":
            return RefundResult("failed")
        refunds = order.setdefault("refunds", {})
        if refund_id in refunds:
            return RefundResult(**refunds[refund_id])
        result = RefundResult("failed")
        refunded = int(paid.get("refunded", 0))
        if not self.fail_refunds and refunded + amount <= int(paid["paid_amount"]):
            paid["refunded"] = refunded + amount
            result = RefundResult("succeeded", provider_refund_id=f"FPR{uuid.UUID(refund_id).hex[:16].upper()}")
        refunds[refund_id] = {"state": result.state, "provider_refund_id": result.provider_refund_id}
        self._save(order)
        return result

    def pay_again(self, ref: str, amount: int | None = None) -> SignedCallback:
        """The payer pays the same order once more, as a new transaction (e.g. from a second tab after the first
        went through): kept in the bank's ledger, and its success callback is returned."""
        order = self.order(ref)
        if order is None:
            raise KeyError(ref)
        txn_id = f"FP{uuid.uuid4().hex[:16].upper()}"
        paid = order["amount"] if amount is None else amount
        order.setdefault("later_transactions", {})[txn_id] = {"status": "succeeded", "paid_amount": paid,
                                                              "refunded": 0}
        self._save(order)
        return self.callback(ref, txn_id, "succeeded", paid)

    # --- the payer finishes -------------------------------------------------------------------------------------
    def hold(self, ref: str) -> None:
        """The payer has paid and the bank has not settled yet (a card under review, a transfer in clearing): its
        status answer says `processing` until `complete` settles the order, and no callback is sent meanwhile."""
        order = self.order(ref)
        if order is None:
            raise KeyError(ref)
        order["status"] = "processing"
        self._save(order)

    def complete(self, ref: str, outcome: Outcome = "succeeded", *, mode: Mode = "normal",
                 amount: int | None = None) -> list[SignedCallback]:
        """Settle the order in the bank's ledger and return the callbacks the bank sends, in sending order."""
        order = self.order(ref)
        if order is None:
            raise KeyError(ref)
        txn_id = order["txn_id"] or f"FP{uuid.uuid4().hex[:16].upper()}"
        paid = order["amount"] if amount is None else amount
        order.update(status=outcome, txn_id=txn_id, paid_amount=paid)
        self._save(order)
        final = self.callback(ref, txn_id, outcome, paid)
        if mode == "never":
            return []
        if mode == "duplicate":
            return [final, final]
        if mode == "reorder":
            # A declined first try on the same order, delivered after the final answer (out of order).
            stale = self.callback(ref, f"FP{uuid.uuid4().hex[:16].upper()}", "failed", paid)
            return [final, stale]
        return [final]

    def callback(self, ref: str, txn_id: str, status: str, amount: int, *,
                 timestamp: int | None = None) -> SignedCallback:
        body = json.dumps({"event_id": uuid.uuid4().hex, "order_ref": ref, "transaction_id": txn_id,
                           "status": status, "amount": amount,
                           "occurred_at": clock.now().isoformat()}).encode()
        ts = str(int(clock.now().timestamp()) if timestamp is None else timestamp)
        return SignedCallback(body, {"Content-Type": "application/json", TIMESTAMP_HEADER: ts,
                                     SIGNATURE_HEADER: sign(self.secret, ts, body)})


async def deliver(callbacks: list[SignedCallback], url: str, *, delay_s: float = 0.0) -> None:
    """Post callbacks to the app as the bank would: later, in order, each with a short timeout."""
    await asyncio.sleep(delay_s)
    async with httpx.AsyncClient(timeout=5.0) as http:
        for callback in callbacks:
            try:
                await http.post(url, content=callback.body, headers=callback.headers)
            except httpx.HTTPError as error:  # a real bank retries later; reconciliation covers it here
                log.warning("fakepay callback to %s failed: %s", url, error)


class FakePayProvider:
    name = "fakepay"
    answers_with_problems = True
    refunds_idempotent = True  # the bank keeps each refund by our refund id and answers a repeat from its ledger

    def __init__(self, bank: FakePayBank | None = None) -> None:
        self.bank = bank or FakePayBank()

    async def create(self, order: PaymentOrder) -> CreatedPayment:
        self.bank.open_order(order.provider_ref, order.amount, order.return_url)
        return CreatedPayment(next_url=CHECKOUT_PATH.format(ref=order.provider_ref))

    async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
        order = self.bank.order(provider_ref)
        if order is None:
            return ProviderStatus("unknown")
        return ProviderStatus(order["status"], order["txn_id"], order["paid_amount"], raw=order)

    async def refund(self, order: RefundOrder) -> RefundResult:
        return self.bank.refund(order.provider_ref, str(order.refund_id), order.amount, order.txn_id)

    def verify_callback(self, request: CallbackRequest) -> CallbackEvent:
        headers = {k.lower(): v for k, v in request.headers.items()}
        timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        expected = sign(self.bank.secret, timestamp, request.body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise CallbackRejected("signature_invalid", "The callback signature does not match.")
        try:
            sent = int(timestamp)
        except ValueError:
            raise CallbackRejected("signature_invalid", "The callback timestamp is not a number.") from None
        # Compared as integers: a float of a 400-digit timestamp overflows (a 500 after a valid signature).
        if abs(int(clock.now().timestamp()) - sent) > get_settings().payment_callback_window_s:
            raise CallbackRejected("signature_invalid", "The callback timestamp is outside the allowed window.")
        try:
            data = json.loads(request.body, parse_constant=_reject_constant)
            ref, txn, status, amount = data["order_ref"], data["transaction_id"], data["status"], data["amount"]
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested thousands deep
            raise CallbackRejected("malformed", "The callback body is not a fakepay event.") from None
        # Only a JSON integer is an amount: int() would credit 500000.9 as 500000 (and True as 1).
        if (status not in ("succeeded", "failed", "cancelled") or not (storable_id(ref) and storable_id(txn))
                or type(amount) is not int or not 0 <= amount <= MAX_AMOUNT):
            raise CallbackRejected("malformed", "The callback body is not a fakepay event.")
        return CallbackEvent(provider_ref=ref, txn_id=txn, status=status, amount=amount, raw=data)

    def callback_response(self, outcome: CallbackOutcome, event: CallbackEvent | None) -> Response:
        if outcome == "signature_invalid":
            # A 401 names how to authenticate (RFC 9110 §11.6.1): here the HMAC in SIGNATURE_HEADER.
            raise ProblemError("callback_signature_invalid", "The callback signature or timestamp is not valid.",
                               headers={"WWW-Authenticate": CALLBACK_CHALLENGE})
        if outcome == "malformed":
            raise ProblemError("validation_error", "The callback body is not a fakepay event.")
        return JSONResponse({"outcome": outcome}, status_code=200)

"""VNPAY's side of a test: the sandbox terminal and key, and its merchant-API answers signed as its protocol says.

The field orders are written out here from VNPAY's documentation, independently of the adapter's own constants,
so that a mistake in one is not copied into the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx

SECRET = "VNPAYTESTSECRETKEY0123456789ABCD"
TMN = "DEMOV210"
REFUND_ANSWER_ORDER = ("vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
                       "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
                       "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo")
QUERYDR_ANSWER_ORDER = (*REFUND_ANSWER_ORDER, "vnp_PromotionCode", "vnp_PromotionAmount")


def vnpay_hash(data: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def signed_querydr_answer(fields: dict[str, str]) -> dict[str, str]:
    return fields | {"vnp_SecureHash": vnpay_hash("|".join(fields.get(k, "") for k in QUERYDR_ANSWER_ORDER))}


def querydr_answer(request: httpx.Request, **fields: str) -> httpx.Response:
    """VNPAY's signed answer to a querydr request: a paid transaction of the order asked about, `fields` on top."""
    body = json.loads(request.content)
    return httpx.Response(200, json=signed_querydr_answer({
        "vnp_ResponseId": "R2", "vnp_Command": "querydr", "vnp_ResponseCode": "00", "vnp_Message": "OK",
        "vnp_TmnCode": TMN, "vnp_TxnRef": body["vnp_TxnRef"], "vnp_Amount": "100000", "vnp_BankCode": "NCB",
        "vnp_PayDate": "20261123153000", "vnp_TransactionNo": "14000010", "vnp_TransactionType": "01",
        "vnp_TransactionStatus": "00", "vnp_OrderInfo": body["vnp_OrderInfo"]} | fields))


def signed_refund_answer(fields: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    return fields | {"vnp_SecureHash": vnpay_hash("|".join(fields.get(k, "") for k in REFUND_ANSWER_ORDER), secret)}


def refund_answer(request: dict[str, str], code: str = "00", **fields: str) -> dict[str, str]:
    """VNPAY's unsigned answer to a refund request: its order and amount echoed, `fields` on top."""
    return {"vnp_ResponseId": "RR1", "vnp_Command": "refund", "vnp_ResponseCode": code, "vnp_Message": "OK",
            "vnp_TmnCode": request["vnp_TmnCode"], "vnp_TxnRef": request["vnp_TxnRef"],
            "vnp_Amount": request["vnp_Amount"], "vnp_BankCode": "NCB", "vnp_PayDate": "20261124091500",
            "vnp_TransactionNo": "15000001", "vnp_TransactionType": request["vnp_TransactionType"],
            "vnp_TransactionStatus": "05" if code == "00" else "", "vnp_OrderInfo": request["vnp_OrderInfo"]} | fields


def refund_api(answer: Callable[[dict[str, str]], Any],
               seen: list[dict[str, str]] | None = None) -> httpx.MockTransport:
    """VNPAY's merchant API answering each refund request with answer(request body) as JSON."""
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if seen is not None:
            seen.append(body)
        return httpx.Response(200, json=answer(body))

    return httpx.MockTransport(handle)

"""VNPAY payment gateway (cổng thanh toán VNPAY), API version 2.1.0, written to its published protocol.

- Payment: redirect the payer to DVC_VNPAY_PAYMENT_URL with the `vnp_*` parameters sorted by name, names and
  values form-encoded (PHP urlencode), signed with `vnp_SecureHash` = hex HMAC-SHA512(hash secret, that query).
  Amounts travel x100 (10,000 đ is `vnp_Amount=1000000`); dates are yyyyMMddHHmmss in GMT+7.
- IPN (the server-to-server callback): the same signed `vnp_*` parameters; answered with JSON
  {"RspCode": "00", "Message": "Confirm Success"}, "97" invalid signature, "01" order not found, "02" order
  already confirmed, "04" invalid amount, "99" anything else. Success is vnp_ResponseCode = vnp_TransactionStatus
  = "00"; money VNPAY holds (07 suspected fraud, 04 reversal) is `processing`, not a failure. VNPAY retries an
  IPN answered 01, 04, 97 or 99 (or not answered): up to 10 calls, 5 minutes apart; 00 and 02 end it. So an IPN
  is accepted whatever its age; replays are harmless because crediting is idempotent by transaction.
- querydr / refund: JSON POSTs to DVC_VNPAY_API_URL, signed over "|"-joined fields. querydr is a read and is
  retried (tenacity) on transport errors; refund moves money and is never retried automatically.

Sources each detail was checked against. VNPAY hands out its demos as downloads; the copies named here are in
public repositories (keys and URLs changed; the Java one adapted around the lines cited):
- IPN checks and answers, in this order: checksum "97", order exists "01", amount "04", order still pending else
  "02", then "00" (a failed payment is recorded and confirmed "00" too): the PHP demo vnpay_php/vnpay_ipn.php
  (github.com/huykunptit/PTIT_eCommerce, vnpay_php/vnpay_ipn.php). app.fees.callbacks applies them in this order.
- The signed string: the `vnp_*` fields but vnp_SecureHash(Type), sorted, `urlencode(name)=urlencode(value)`
  joined by "&" (that IPN demo; the PHP create demo, github.com/Manhph41890/du_an_tot_nghiep,
  resources/views/client/order/vnpay_php/vnpay_create_payment.php; the guide
  https://sandbox.vnpayment.vn/apis/docs/thanh-toan-pay/pay.html). Empty values: the Java demo (ajaxServlet.java,
  `fieldValue.length() > 0`; copy github.com/nguyenvinhz/vnpay, src/main/java/com/vnpay/common/ajaxServlet.java),
  the .NET demo (VnPayLibrary.cs, `!String.IsNullOrEmpty` in CreateRequestUrl and AddResponseData, as every
  public copy seen has it) and the `vnpay` npm library (github.com/lehuygiang28/vnpay, src/utils/payment.util.ts,
  buildPaymentUrlSearchParams, used to sign and to verify) leave them out, and the PHP create demo adds an
  optional field only when it is not empty: we send none and sign without them. The PHP IPN demo alone signs an
  empty value as `name=`: an IPN is accepted over either string (both are VNPAY's signature over the same
  fields; an empty field says nothing either way).
- Encoding: space is `+`; PHP urlencode and Java URLEncoder (US_ASCII) percent-encode `~ ! ( ) '`; for `*` they
  differ (urlencode `%2A`, URLEncoder `*`). Every demo sends exactly the query it signed, so VNPAY can only be
  hashing the query as sent: ours is the signed string itself (signed_url), in urlencode's form, `*` as `%2A`.
  vnp_OrderInfo stays ASCII, as app.fees.payments writes it (the Java demo's US_ASCII turns a diacritic into `?`).
- vnp_IpAddr: the payer's address in the pay request (PHP create demo: `$_SERVER['REMOTE_ADDR']`, "IP Khách hàng
  thanh toán"; the router passes the client address, taken from forwarded headers only behind a trusted proxy,
  DVC_FORWARDED_ALLOW_IPS); for querydr and refund, "the IP address of the server calling the API"
  (https://sandbox.vnpayment.vn/apis/docs/truy-van-hoan-tien/querydr&refund.html): DVC_VNPAY_SERVER_IP.
- querydr and refund bodies and their "|" orders: that page, the PHP demos vnpay_querydr.php and vnpay_refund.php
  (github.com/Manhph41890/du_an_tot_nghiep, resources/views/client/order/vnpay_php/) and the npm library
  (src/services/query.service.ts) agree; vnp_RequestId is Alphanumeric[1,32], unique within the day (a uuid4's 32
  hex digits); the answers' signed orders are the npm library's (the querydr one with the promotion fields).
- URLs: the guide documents the sandbox only (the defaults of DVC_VNPAY_PAYMENT_URL and DVC_VNPAY_API_URL);
  VNPAY gives a merchant its production URLs when the terminal goes live (see app.core.settings).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import httpx
from fastapi.responses import JSONResponse
from starlette.responses import Response
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from app.core import clock
from app.core.settings import get_settings
from app.fees.providers.base import (
    MAX_AMOUNT,
    CallbackEvent,
    CallbackOutcome,
    CallbackRejected,
    CallbackRequest,
    CallbackStatus,
    CreatedPayment,
    PaymentOrder,
    ProviderError,
    ProviderState,
    ProviderStatus,
    RefundOrder,
    RefundResult,
    storable_id,
)

VERSION = "2.1.0"
HASH_FIELDS = ("vnp_SecureHash", "vnp_SecureHashType")
IPN_ANSWERS: dict[str, tuple[str, str]] = {
    "credited": ("00", "Confirm Success"),
    "recorded": ("00", "Confirm Success"),
    "overpayment": ("00", "Confirm Success"),
    "duplicate": ("02", "Order already confirmed"),
    "ignored": ("02", "Order already confirmed"),
    "unknown_order": ("01", "Order not found"),
    "amount_mismatch": ("04", "invalid amount"),
    "signature_invalid": ("97", "Invalid signature"),
    "malformed": ("99", "Unknow error"),
}
# The fields VNPAY signs its merchant-API answers over, in this order ("|"-joined, HMAC-SHA512 as vnp_SecureHash).
REFUND_RESPONSE_FIELDS = ("vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
                          "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
                          "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo")
QUERY_RESPONSE_FIELDS = (*REFUND_RESPONSE_FIELDS, "vnp_PromotionCode", "vnp_PromotionAmount")
# Refund answers meaning VNPAY did not take the request, so no money moved: 02 not our terminal, 03 malformed
# request, 91 no such transaction, 95 refused (the payment did not succeed at VNPAY), 97 bad checksum.
REFUND_REFUSED = frozenset({"02", "03", "91", "95", "97"})

# querydr's vnp_TransactionStatus. Only 02 says the payment failed; the others (04 reversed: the bank debited the
# payer but VNPAY did not complete it; 05, 06, 09: refund states; 07: held as suspected fraud) say money may have
# moved or be held, so nothing is concluded from them: reconciliation asks again, for a day past the expiry.
# These codes, querydr's vnp_ResponseCode (00, 02, 03, 91, 94, 97, 99) and the refund's (REFUND_REFUSED, with 94
# "already being refunded" and 99 "other" not refusals) are VNPAY's sandbox tables, checked against the same tables
# in the widely used `vnpay` npm library (src/constants/response-map.constant.ts).
QUERY_STATES: dict[str, ProviderState] = {"00": "succeeded", "01": "pending", "02": "failed"}

# IPN answers that are no failure: the payer's money was taken and VNPAY holds it. vnp_ResponseCode 07 is "debited;
# suspected fraud: the merchant accepts or refuses it in VNPAY's merchant admin"; vnp_TransactionStatus 04 is a
# reversal (debited at the bank, not completed at VNPAY), 07 suspected fraud (VNPAY's code tables, also in the
# `vnpay` npm library's src/constants/response-map.constant.ts). Recorded as `processing`: the attempt waits,
# `submitted`, for querydr to learn the outcome, where a failure would let the payer pay the same fees again.
HELD_RESPONSE_CODES = frozenset({"07"})
HELD_TRANSACTION_STATUSES = frozenset({"04", "07"})

log = logging.getLogger("app.fees.providers.vnpay")


def ipn_status(response_code: str | None, transaction_status: str | None) -> CallbackStatus:
    """What an IPN says of the payment. A success needs both codes 00, as VNPAY's .NET sample and its PHP demo
    (vnpay_php/vnpay_ipn.php) check; the PHP snippet on the docs page writes `||`, which would credit a payment
    whose transaction status says it did not succeed. 24 is the payer cancelling."""
    if response_code == "00" and transaction_status == "00":
        return "succeeded"
    if response_code in HELD_RESPONSE_CODES or transaction_status in HELD_TRANSACTION_STATUSES:
        return "processing"
    return "cancelled" if response_code == "24" else "failed"


def hmac_sha512(secret: str, data: str) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def form_encode(text: str) -> str:
    """application/x-www-form-urlencoded as VNPAY's PHP sample (urlencode) does it: UTF-8, space as `+`, every byte
    but [A-Za-z0-9_.-] percent-encoded. Python's quote_plus also keeps `~`, which urlencode encodes."""
    return quote_plus(text).replace("~", "%7E")


def canonical_query(params: Mapping[str, str], *, keep_empty: bool = False) -> str:
    """The signed string: vnp_* parameters (hash fields excluded) sorted by name, names and values form-encoded.

    As VNPAY's own IPN sample builds hashData (https://sandbox.vnpayment.vn/apis/docs/thanh-toan-pay/pay.html,
    "Cài đặt Code IPN URL", PHP): `urlencode($key) . "=" . urlencode($value)` over the vnp_* fields, ksort'ed.
    Empty values are left out, as the Java and .NET demos do (`keep_empty`: the PHP IPN demo's string)."""
    items = sorted((k, str(v)) for k, v in params.items()
                   if k.startswith("vnp_") and k not in HASH_FIELDS and (keep_empty or str(v) != ""))
    return "&".join(f"{form_encode(k)}={form_encode(v)}" for k, v in items)


def signed_by(secret: str, params: Mapping[str, str], received: str) -> bool:
    """Is `received` VNPAY's vnp_SecureHash of these parameters: over the string without empty values or, when
    there are some, over the PHP IPN demo's string with them (constant-time comparisons)."""
    if not secret:
        return False
    forms = {canonical_query(params), canonical_query(params, keep_empty=True)}
    given = received.lower().encode()
    return any([hmac.compare_digest(hmac_sha512(secret, form).encode(), given) for form in forms])


def vnpay_time(moment: datetime) -> str:
    return clock.local(moment).strftime("%Y%m%d%H%M%S")


def dong(vnp_amount: object) -> int:
    """Whole đồng from VNPAY's x100 amount; ValueError unless it is ASCII digits. An amount that can never match
    an attempt (not whole đồng, or beyond any fee) is -1: a mismatch, recorded and flagged, never credited."""
    text = str(vnp_amount)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"vnp_Amount {text[:40]!r} is not a number")
    raw = int(text)
    return raw // 100 if raw % 100 == 0 and raw // 100 <= MAX_AMOUNT else -1


def signed_answer(secret: str, answer: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    """Is a merchant-API answer signed by VNPAY: vnp_SecureHash = HMAC-SHA512 over its `fields`, "|"-joined?"""
    data = "|".join(str(answer.get(k, "")) for k in fields)
    return bool(secret) and hmac.compare_digest(hmac_sha512(secret, data).encode(),
                                                str(answer.get("vnp_SecureHash", "")).lower().encode())


def signed_url(base_url: str, params: Mapping[str, str], secret: str) -> str:
    query = canonical_query(params)
    return f"{base_url}?{query}&vnp_SecureHash={hmac_sha512(secret, query)}"


class VnpayProvider:
    name = "vnpay"
    # vnp_RequestId must be unique per request; VNPAY documents no de-duplication of refunds by our id.
    refunds_idempotent = False
    answers_with_problems = False
    # vnp_ReturnUrl is Alphanumeric[10,255] (https://sandbox.vnpayment.vn/apis/docs/thanh-toan-pay/pay.html): VNPAY
    # refuses a longer one on its page, and the attempt would block paying again until it expires.
    return_url_length = (10, 255)

    def __init__(self, *, tmn_code: str | None = None, hash_secret: str | None = None,
                 payment_url: str | None = None, api_url: str | None = None, server_ip: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        settings = get_settings()
        self.tmn_code = tmn_code if tmn_code is not None else settings.vnpay_tmn_code
        self.hash_secret = hash_secret if hash_secret is not None else settings.vnpay_hash_secret
        self.payment_url = payment_url or settings.vnpay_payment_url
        self.api_url = api_url or settings.vnpay_api_url
        self.server_ip = server_ip or settings.vnpay_server_ip  # querydr/refund's vnp_IpAddr: this server's
        self.timeout = settings.payment_provider_timeout_s
        self.transport = transport  # tests plug a recorded exchange here

    @property
    def configured(self) -> bool:
        """Set up in this deployment (merchant code and secret): otherwise not offered to payers at all."""
        return bool(self.tmn_code and self.hash_secret)

    def payment_params(self, order: PaymentOrder) -> dict[str, str]:
        ttl = timedelta(seconds=get_settings().payment_attempt_ttl_s)
        return {
            "vnp_Version": VERSION, "vnp_Command": "pay", "vnp_TmnCode": self.tmn_code,
            "vnp_Amount": str(order.amount * 100), "vnp_CreateDate": vnpay_time(order.created_at),
            "vnp_CurrCode": "VND", "vnp_IpAddr": order.client_ip, "vnp_Locale": "vn",
            "vnp_OrderInfo": order.description, "vnp_OrderType": "other", "vnp_ReturnUrl": order.return_url,
            "vnp_TxnRef": order.provider_ref, "vnp_ExpireDate": vnpay_time(order.created_at + ttl),
        }

    async def create(self, order: PaymentOrder) -> CreatedPayment:
        if not self.configured:
            raise ProviderError("VNPAY is not configured (DVC_VNPAY_TMN_CODE, DVC_VNPAY_HASH_SECRET)")
        return CreatedPayment(next_url=signed_url(self.payment_url, self.payment_params(order), self.hash_secret))

    # --- IPN ----------------------------------------------------------------------------------------------------
    def verify_callback(self, request: CallbackRequest) -> CallbackEvent:
        params = dict(request.query)
        if request.body:
            params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        if not signed_by(self.hash_secret, params, params.get("vnp_SecureHash", "")):
            raise CallbackRejected("signature_invalid", "vnp_SecureHash does not match.")
        if params.get("vnp_TmnCode") != self.tmn_code:  # signed by VNPAY, but for another merchant's terminal
            raise CallbackRejected("malformed", f"The IPN is for terminal {params.get('vnp_TmnCode', '')[:40]!r}, "
                                                f"not ours ({self.tmn_code!r}); nothing applied.")
        ref, txn = params.get("vnp_TxnRef"), params.get("vnp_TransactionNo")
        if not (storable_id(ref) and storable_id(txn)):
            raise CallbackRejected("malformed", "The IPN lacks a usable vnp_TxnRef or vnp_TransactionNo.")
        try:
            amount = dong(params.get("vnp_Amount", ""))
        except ValueError:
            raise CallbackRejected("malformed", "The IPN's vnp_Amount is not a number.") from None
        return CallbackEvent(provider_ref=str(ref), txn_id=str(txn), amount=amount, raw=params,
                             status=ipn_status(params.get("vnp_ResponseCode"), params.get("vnp_TransactionStatus")))

    def callback_response(self, outcome: CallbackOutcome, event: CallbackEvent | None) -> Response:
        code, message = IPN_ANSWERS[outcome]
        return JSONResponse({"RspCode": code, "Message": message}, status_code=200)

    # --- merchant API -------------------------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), transport=self.transport)

    def _base(self, command: str) -> dict[str, str]:
        return {"vnp_RequestId": uuid.uuid4().hex[:32], "vnp_Version": VERSION, "vnp_Command": command,
                "vnp_TmnCode": self.tmn_code, "vnp_CreateDate": vnpay_time(clock.now()),
                "vnp_IpAddr": self.server_ip}

    @retry(retry=retry_if_exception_type(httpx.TransportError), stop=stop_after_attempt(3),
           wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
    async def _post_idempotent(self, body: dict[str, str]) -> dict[str, Any]:
        async with self._client() as http:
            response = await http.post(self.api_url, json=body)
        response.raise_for_status()
        return dict(response.json())

    async def status(self, provider_ref: str, created_at: Any) -> ProviderStatus:
        body = self._base("querydr") | {"vnp_TxnRef": provider_ref, "vnp_OrderInfo": f"Query {provider_ref}",
                                        "vnp_TransactionDate": vnpay_time(created_at)}
        data = "|".join(body[k] for k in ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode",
                                          "vnp_TxnRef", "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr",
                                          "vnp_OrderInfo"))
        body["vnp_SecureHash"] = hmac_sha512(self.hash_secret, data)
        try:
            answer = await self._post_idempotent(body)
        except (httpx.HTTPError, ValueError, RecursionError) as error:  # RecursionError: JSON nested thousands deep
            raise ProviderError(f"VNPAY querydr failed: {error}") from error
        if not signed_answer(self.hash_secret, answer, QUERY_RESPONSE_FIELDS):
            raise ProviderError("VNPAY querydr answer has a bad signature")
        if answer.get("vnp_ResponseCode") == "91":
            return ProviderStatus("unknown", raw=answer)
        if answer.get("vnp_ResponseCode") != "00":
            raise ProviderError(f"VNPAY querydr answered {answer.get('vnp_ResponseCode')}")
        if (answer.get("vnp_TxnRef"), answer.get("vnp_TmnCode")) != (provider_ref, self.tmn_code):
            # Signed, but about another order or terminal (a misrouted or replayed answer): it says nothing of ours.
            raise ProviderError(f"VNPAY querydr answer is about order {str(answer.get('vnp_TxnRef'))[:40]!r} of "
                                f"terminal {str(answer.get('vnp_TmnCode'))[:20]!r}, not {provider_ref!r}")
        txn = str(answer.get("vnp_TransactionNo") or "") or None
        try:
            amount = dong(answer.get("vnp_Amount", "0"))
        except ValueError as error:
            raise ProviderError(f"VNPAY querydr answer: {error}") from None
        if txn is not None and not storable_id(txn):
            raise ProviderError("VNPAY querydr answer has an unusable vnp_TransactionNo")
        state = QUERY_STATES.get(str(answer.get("vnp_TransactionStatus")), "unknown")
        return ProviderStatus(state, txn, amount, raw=answer)

    async def refund(self, order: RefundOrder) -> RefundResult:
        body = self._base("refund") | {
            "vnp_TransactionType": "02" if order.full else "03", "vnp_TxnRef": order.provider_ref,
            # "0" when VNPAY's transaction number is unknown, as VNPAY's PHP and Node.js refund demos send it (their
            # .NET demo sends ""): the field is optional.
            "vnp_Amount": str(order.amount * 100), "vnp_TransactionNo": order.txn_id or "0",
            # VNPAY names the original payment by its pay request's vnp_CreateDate, as querydr does.
            "vnp_TransactionDate": vnpay_time(order.ordered_at), "vnp_CreateBy": order.requested_by,
            "vnp_OrderInfo": order.reason[:255]}
        data = "|".join(body[k] for k in ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode",
                                          "vnp_TransactionType", "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo",
                                          "vnp_TransactionDate", "vnp_CreateBy", "vnp_CreateDate", "vnp_IpAddr",
                                          "vnp_OrderInfo"))
        body["vnp_SecureHash"] = hmac_sha512(self.hash_secret, data)
        try:  # moves money: one try only; an unknown outcome stays `submitted` for an operator
            async with self._client() as http:
                response = await http.post(self.api_url, json=body)
            answer = response.json()
        except (httpx.HTTPError, ValueError, RecursionError):  # RecursionError: JSON nested too deep to read (a 500)
            return RefundResult("submitted")
        if not isinstance(answer, dict):  # not VNPAY's answer (dict() of a number raised a 500): outcome unknown
            return RefundResult("submitted")
        return self._refund_result(order, body, answer)

    def _refund_result(self, order: RefundOrder, body: dict[str, str], answer: dict[str, Any]) -> RefundResult:
        """What VNPAY's refund answer says, when it can be trusted. A success must be signed by VNPAY and name the
        order and amount we asked for. A refusal is one of the codes that say VNPAY did not take the request
        (REFUND_REFUSED), signed or with no signature at all (VNPAY signs only some error answers). Anything else
        proves nothing either way: a bad signature, no code (a proxy's error page), `94` (a refund for this
        order already in progress), `99` (other error): the refund stays `submitted`, its amount reserved, for
        finance to check with VNPAY and resolve."""
        code = str(answer.get("vnp_ResponseCode") or "")
        signed = signed_answer(self.hash_secret, answer, REFUND_RESPONSE_FIELDS)
        if code == "00" and signed:
            asked = (body["vnp_TxnRef"], body["vnp_Amount"])
            if (str(answer.get("vnp_TxnRef", "")), str(answer.get("vnp_Amount", ""))) == asked:
                # The money moved: an id that the column cannot hold is dropped, not a reason to lose the success.
                refund_ref = str(answer.get("vnp_TransactionNo") or "")
                return RefundResult("succeeded", refund_ref if storable_id(refund_ref) else None, raw=answer)
            log.warning("refund %s: VNPAY success names another order or amount than asked %s; not trusted, kept "
                        "submitted", order.refund_id, asked)
            return RefundResult("submitted", raw=answer)
        if code in REFUND_REFUSED and (signed or "vnp_SecureHash" not in answer):
            return RefundResult("failed", raw=answer)
        log.warning("refund %s: VNPAY answer (code %r, vnp_SecureHash %s) says nothing certain; kept submitted",
                    order.refund_id, code[:8], "valid" if signed else "missing or bad")
        return RefundResult("submitted", raw=answer)

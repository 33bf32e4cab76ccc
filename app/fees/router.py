"""HTTP routes of the fees domain: the fees of a dossier, payments, receipts, refunds, provider callbacks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from app.core.db import ReadSessionDep, SessionDep
from app.core.idempotency import IdempotencyDep
from app.core.negotiation import VARY_ACCEPT, negotiate
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import ProblemError, not_found
from app.core.routing import include_flat
from app.dossiers.access import get_dossier_for
from app.dossiers.deps import ViewerDep
from app.fees import cancel, listing, payments, refunds
from app.fees import gate as _gate  # noqa: F401  (registers the fees gate with the workflow)
from app.fees.callbacks import handle_callback
from app.fees.devpages import router as dev_router
from app.fees.models import PaymentAttempt
from app.fees.obligations import ObligationView, obligation_views
from app.fees.providers import ONLINE_PROVIDERS, get_provider
from app.fees.providers.base import CallbackRequest
from app.fees.receipts import receipt_for, receipt_pdf
from app.fees.schemas import (
    CounterPaymentCreate,
    FeesOut,
    ObligationOut,
    PaymentCancel,
    PaymentCreate,
    PaymentFilters,
    PaymentOut,
    ReceiptOut,
    RefundCreate,
    RefundOut,
    RefundResolution,
)
from app.identity.deps import Principal, agency_official

router = APIRouter(tags=["fees"])
include_flat(router, dev_router)

# Money is moved by the agency's finance staff at their agency, not by a system administrator's rank.
FinanceDep = Annotated[Principal, agency_official("finance")]
IDEMPOTENCY_PROBLEMS = ("idempotency_in_progress", "idempotency_key_reused")


def _obligation_out(view: ObligationView) -> ObligationOut:
    obligation = view.obligation
    # The obligation's `refunded` reserves refunds awaiting the provider too: shown apart, not as money given back.
    return ObligationOut.model_validate({
        "id": obligation.id, "stage": obligation.stage, "due": obligation.due, "paid": obligation.paid,
        "refunded": obligation.refunded - view.refund_pending, "refund_pending": view.refund_pending,
        "balance": obligation.balance, "refund_due": view.refund_due, "settled": obligation.paid >= obligation.due,
        "created_at": obligation.created_at, "settled_at": obligation.settled_at, "lines": obligation.lines})


async def _visible_attempt(session: Any, viewer: Any, payment_id: uuid.UUID) -> PaymentAttempt:
    """The payment if the caller may see its dossier; the same 404 whether it does not exist or is hidden."""
    attempt = await session.get(PaymentAttempt, payment_id)
    try:
        if attempt is not None:
            await get_dossier_for(session, viewer, attempt.dossier_id)
            return attempt
    except ProblemError as error:
        if error.code != "not_found":
            raise
    raise not_found("payment")


@router.get("/v1/dossiers/{dossier_id}/fees", response_model=FeesOut, responses=problems("not_found"))
async def fees_of_dossier(dossier_id: uuid.UUID, viewer: ViewerDep, session: ReadSessionDep) -> FeesOut:
    """Obligations with their lines: due, paid, refunded (confirmed by the provider), refund_pending (asked of it,
    not yet answered) and balance (applicant and the agency's officials), and `refund_due`: money held for a
    dossier that ended without being processed, for finance to refund."""
    await get_dossier_for(session, viewer, dossier_id)
    obligations = [_obligation_out(view) for view in await obligation_views(session, dossier_id)]
    return FeesOut(dossier_id=dossier_id, obligations=obligations, due=sum(o.due for o in obligations),
                   paid=sum(o.paid for o in obligations), refunded=sum(o.refunded for o in obligations),
                   refund_pending=sum(o.refund_pending for o in obligations),
                   balance=sum(o.balance for o in obligations), refund_due=sum(o.refund_due for o in obligations))


@router.post("/v1/dossiers/{dossier_id}/payments", status_code=201, response_model=PaymentOut,
             responses=problems("not_found", "forbidden_role", "payment_in_progress", "nothing_to_pay",
                                "payment_provider_unavailable", "validation_error", *IDEMPOTENCY_PROBLEMS))
async def payments_start(dossier_id: uuid.UUID, body: PaymentCreate, request: Request, viewer: ViewerDep,
                         idem: IdempotencyDep, session: SessionDep) -> Response:
    """Pay the balance online: creates an attempt and answers with the provider's `next_url`."""
    if not viewer.principal.is_applicant:
        raise ProblemError("forbidden_role", "Only the applicant pays online; officials record desk payments.")
    # Claim the key before the request's own transaction starts (SQLite has one writer at a time).
    replay = await idem.replay_or_claim(scope=str(viewer.account_id),
                                        payload={"dossier": str(dossier_id), "body": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    dossier = await get_dossier_for(session, viewer, dossier_id)
    attempt = await payments.start_payment(session, dossier, provider_name=body.provider,
                                           return_url=body.return_url, payer_id=viewer.account_id,
                                           client_ip=request.client.host if request.client else "127.0.0.1")
    return await idem.respond(session, PaymentOut.model_validate(attempt), status_code=201,
                              headers={"Location": f"/v1/payments/{attempt.id}"})


@router.post("/v1/dossiers/{dossier_id}/payments/counter", status_code=201, response_model=PaymentOut,
             responses=problems("not_found", "payment_in_progress", "nothing_to_pay", "conflict",
                                "validation_error", *IDEMPOTENCY_PROBLEMS))
async def payments_record_counter(dossier_id: uuid.UUID, body: CounterPaymentCreate, official_: FinanceDep,
                                  idem: IdempotencyDep, session: SessionDep) -> Response:
    """A desk payment (cash or card at the reception desk), recorded by a finance official with its receipt. An
    online attempt the payer has not paid yet (`created`, `started`) is given up (`expired`: money the provider
    still reports for it is flagged for a refund); one the provider is settling (`submitted`) is 409
    `payment_in_progress` (finance may cancel it: `POST /v1/payments/{id}/cancel`)."""
    replay = await idem.replay_or_claim(scope=str(official_.account_id),
                                        payload={"dossier": str(dossier_id), "body": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    dossier = await get_dossier_for(session, official_, dossier_id)
    attempt = await payments.counter_payment(session, dossier, official_id=official_.account_id,
                                             receipt_number=body.receipt_number, amount=body.amount)
    return await idem.respond(session, PaymentOut.model_validate(attempt), status_code=201,
                              headers={"Location": f"/v1/payments/{attempt.id}"})


@router.get("/v1/dossiers/{dossier_id}/payments", response_model=Page[PaymentOut],
            responses=problems("not_found", "validation_error"))
async def payments_of_dossier(dossier_id: uuid.UUID, viewer: ViewerDep, page: PageDep,
                              session: ReadSessionDep) -> Page[PaymentOut]:
    """The dossier's payments, online and at the desk, newest first, a page at a time (`limit`, `cursor`), each
    with its surpluses (the ids finance refunds with and the applicant's receipts are found here)."""
    await get_dossier_for(session, viewer, dossier_id)
    items, cursor = await listing.payments_of_dossier(session, dossier_id, page)
    return Page[PaymentOut](items=items, next_cursor=cursor)


@router.get("/v1/payments", response_model=Page[PaymentOut], responses=problems("validation_error"))
async def payments_list(viewer: ViewerDep, page: PageDep, session: ReadSessionDep,
                        filters: Annotated[PaymentFilters, Query()]) -> Page[PaymentOut]:
    """The payments the caller may see, newest first: finance's queues (`flagged=true`: money to refund or to
    check; `refund_due=true`: money held for dossiers that ended without being processed; `state=submitted`:
    awaiting the provider). Applicants see their own, officials their agency's."""
    items, cursor = await listing.list_payments(session, viewer, filters, page)
    return Page[PaymentOut](items=items, next_cursor=cursor)


@router.get("/v1/payments/{payment_id}", response_model=PaymentOut, responses=problems("not_found"))
async def payments_get(payment_id: uuid.UUID, viewer: ViewerDep, session: ReadSessionDep) -> PaymentOut:
    """The payment, with its surpluses: money the provider reported that was not credited, for finance to refund."""
    [payment] = await listing.with_surpluses(session, [await _visible_attempt(session, viewer, payment_id)])
    return payment


@router.post("/v1/payments/{payment_id}/cancel", response_model=PaymentOut,
             responses=problems("not_found", "forbidden_role", "payment_succeeded", "payment_not_live",
                                "payment_not_cancellable", "payment_provider_unavailable", "validation_error",
                                *IDEMPOTENCY_PROBLEMS))
async def payments_cancel(payment_id: uuid.UUID, body: PaymentCancel, official_: FinanceDep, idem: IdempotencyDep,
                          session: SessionDep) -> Response:
    """Give up an online payment still under way (finance role at the dossier's agency), typically one the provider
    keeps `submitted` without settling, so that the fees can be paid another way. The provider is asked first: paid,
    it is credited as its callback would be and answered 409 `payment_succeeded` (refund it if need be); failed or
    cancelled there, that is recorded (webhook event `payment.failed`); still pending or unable to say, it is
    `cancelled` with `cancelled_by` and `cancel_reason` (webhook event `payment.cancelled`); either way the applicant
    is told that the fees are still owed and how to pay them, and money the provider reports for it
    later is credited if still owed, else flagged for a refund. 503 `payment_provider_unavailable` changes nothing;
    409 `payment_not_live` once it has ended, 409 `payment_not_cancellable` for a desk payment."""
    replay = await idem.replay_or_claim(scope=str(official_.account_id), payload={
        "payment": str(payment_id), "body": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    await _visible_attempt(session, official_, payment_id)
    attempt = await cancel.cancel_payment(session, payment_id, official_id=official_.account_id, reason=body.reason)
    [payment] = await listing.with_surpluses(session, [attempt])
    return await idem.respond(session, payment, status_code=200)


@router.get("/v1/payments/{payment_id}/receipt", response_model=ReceiptOut,
            responses={**problems("not_found", "not_acceptable"),
                       200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The receipt (biên lai), as JSON or, with Accept: application/pdf, "
                                            "as a printable PDF."}})
async def payments_receipt(payment_id: uuid.UUID, viewer: ViewerDep, session: ReadSessionDep,
                           accept: Annotated[str | None, Header()] = None) -> Response:
    """The receipt of a succeeded payment: number, lines, payer, agency."""
    attempt = await _visible_attempt(session, viewer, payment_id)
    dossier = await get_dossier_for(session, viewer, attempt.dossier_id)
    receipt = await receipt_for(session, attempt, dossier)
    if negotiate(accept, ("application/json", "application/pdf")) == "application/pdf":
        return Response(await receipt_pdf(session, receipt), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{receipt.receipt_number}.pdf"',
                                 **VARY_ACCEPT})
    return JSONResponse(receipt.model_dump(mode="json"), headers=VARY_ACCEPT)


@router.post("/v1/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut,
             responses=problems("not_found", "refund_amount_mismatch", "validation_error", *IDEMPOTENCY_PROBLEMS))
async def payments_refund(payment_id: uuid.UUID, body: RefundCreate, official_: FinanceDep, idem: IdempotencyDep,
                          session: SessionDep) -> Response:
    """Refund part or all of a succeeded payment through its provider (finance role); with `surplus_id`, part or
    all of one of its surpluses (money the provider took that was never credited), through the same provider."""
    # Without an unset surplus_id, the body hashes as it did before the field existed (keys still replay).
    replay = await idem.replay_or_claim(scope=str(official_.account_id), payload={
        "payment": str(payment_id), "body": body.model_dump(mode="json", exclude_defaults=True)})
    if replay is not None:
        return replay
    await _visible_attempt(session, official_, payment_id)
    refund = await refunds.refund_payment(session, payment_id, amount=body.amount, reason=body.reason,
                                          expected_available=body.expected_available,
                                          official_id=official_.account_id, surplus_id=body.surplus_id)
    return await idem.respond(session, RefundOut.model_validate(refund), status_code=201,
                              headers={"Location": f"/v1/payments/{payment_id}/refunds/{refund.id}"})


@router.get("/v1/payments/{payment_id}/refunds", response_model=Page[RefundOut],
            responses=problems("not_found", "validation_error"))
async def payments_refunds(payment_id: uuid.UUID, viewer: ViewerDep, page: PageDep,
                           session: ReadSessionDep) -> Page[RefundOut]:
    """The payment's refunds, oldest first, a page at a time (`limit`, `cursor`). One still `submitted` awaits the
    provider's answer (reconciliation asks again where the provider allows it; otherwise finance settles it with
    the provider)."""
    await _visible_attempt(session, viewer, payment_id)
    rows, cursor = await refunds.refunds_of(session, payment_id, page)
    return Page[RefundOut](items=[RefundOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/v1/payments/{payment_id}/refunds/{refund_id}", response_model=RefundOut,
            responses=problems("not_found"))
async def payments_refund_get(payment_id: uuid.UUID, refund_id: uuid.UUID, viewer: ViewerDep,
                              session: ReadSessionDep) -> RefundOut:
    await _visible_attempt(session, viewer, payment_id)
    refund = await refunds.get_refund(session, payment_id, refund_id)
    if refund is None:
        raise not_found("refund")
    return RefundOut.model_validate(refund)


@router.post("/v1/payments/{payment_id}/refunds/{refund_id}/resolution", response_model=RefundOut,
             responses=problems("not_found", "refund_not_pending", "refund_awaiting_provider", "validation_error",
                                *IDEMPOTENCY_PROBLEMS))
async def payments_refund_resolve(payment_id: uuid.UUID, refund_id: uuid.UUID, body: RefundResolution,
                                  official_: FinanceDep, idem: IdempotencyDep, session: SessionDep) -> Response:
    """Record the outcome of a refund still `submitted` because the provider's answer never came (finance role),
    after checking with the provider: `failed` releases the amount, `succeeded` announces the refund. Who and the
    note are kept on the refund; 409 `refund_not_pending` once it has an outcome, 409 `refund_awaiting_provider`
    while the provider may still answer (younger than the reconcile wait, or a provider reconciliation asks again)."""
    replay = await idem.replay_or_claim(scope=str(official_.account_id), payload={
        "payment": str(payment_id), "refund": str(refund_id), "body": body.model_dump(mode="json")})
    if replay is not None:
        return replay
    await _visible_attempt(session, official_, payment_id)
    if await refunds.get_refund(session, payment_id, refund_id) is None:
        raise not_found("refund")
    refund = await refunds.resolve_refund(session, payment_id, refund_id, outcome=body.outcome, note=body.note,
                                          provider_refund_id=body.provider_refund_id,
                                          official_id=official_.account_id)
    return await idem.respond(session, RefundOut.model_validate(refund), status_code=200)


CALLBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **problems("callback_signature_invalid", "not_found", "validation_error"),
    200: {"description": "Acknowledged, in the provider's own answer format."}}


@router.post("/v1/payments/providers/{provider}/callback", responses=CALLBACK_RESPONSES)
async def payments_provider_callback(provider: str, request: Request, session: SessionDep) -> Response:
    """A provider's signed notification (public: authenticated by its signature, never by a token)."""
    return await _callback(provider, request, session)


@router.get("/v1/payments/providers/{provider}/callback", responses=CALLBACK_RESPONSES)
async def payments_provider_callback_get(provider: str, request: Request, session: SessionDep) -> Response:
    """The same notification sent as a GET with signed query parameters (VNPAY's IPN calls it this way)."""
    return await _callback(provider, request, session)


async def _callback(provider: str, request: Request, session: Any) -> Response:
    if provider not in ONLINE_PROVIDERS:
        raise not_found("payment provider")
    adapter = get_provider(provider)
    callback = CallbackRequest(headers=dict(request.headers), query=dict(request.query_params),
                               body=await request.body())
    outcome, event = await handle_callback(session, adapter, callback)
    return adapter.callback_response(outcome, event)

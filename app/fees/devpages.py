"""fakepay's hosted checkout page, served by the app in DVC_ENV=dev only (404 otherwise, not in the schema).

The payer lands here from `next_url`, picks an outcome (and, to exercise the service, how the bank should
call back), and is sent back to the return URL while the bank posts its signed callbacks in the background.
These are GETs on purpose: public routes may only read or be signed callbacks (app/identity/public_routes.py),
and this page stands in for a third party's site.
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.core.problems import not_found
from app.core.settings import get_settings
from app.fees.providers.fakepay import CHECKOUT_PATH, FakePayBank, deliver

router = APIRouter(include_in_schema=False)
_background: set[asyncio.Task[None]] = set()


def _bank_or_404() -> FakePayBank:
    if not get_settings().dev_features:
        raise not_found("page")
    return FakePayBank()


@router.get(CHECKOUT_PATH)
async def fakepay_checkout_page(ref: str) -> HTMLResponse:
    order = _bank_or_404().order(ref)
    if order is None:
        raise not_found("order")
    amount = f"{order['amount']:,}".replace(",", ".")
    action = html.escape(CHECKOUT_PATH.format(ref=ref) + "/complete")
    page = f"""<!doctype html><html lang="vi"><meta charset="utf-8"><title>fakepay</title>
<h1>fakepay — cổng thanh toán thử nghiệm</h1>
<p>Đơn {html.escape(ref)}: <b>{amount} đ</b> ({html.escape(order['status'])})</p>
<form method="get" action="{action}">
<label>Kết quả <select name="outcome"><option>succeeded</option><option>failed</option><option>cancelled</option>
</select></label>
<label>Gọi lại <select name="mode"><option>normal</option><option>duplicate</option><option>delay</option>
<option>reorder</option><option>never</option></select></label>
<label>Trễ (giây) <input name="delay_s" value="0" size="3"></label>
<button>Thanh toán</button></form></html>"""
    return HTMLResponse(page)


@router.get(CHECKOUT_PATH + "/complete")
async def fakepay_checkout_complete(
    ref: str, request: Request,
    outcome: Literal["succeeded", "failed", "cancelled"] = "succeeded",
    mode: Literal["normal", "duplicate", "delay", "reorder", "never"] = "normal",
    delay_s: Annotated[float, Query(ge=0, le=600)] = 0.0,
) -> RedirectResponse:
    bank = _bank_or_404()
    order = bank.order(ref)
    if order is None:
        raise not_found("order")
    callbacks = bank.complete(ref, outcome, mode=mode)
    url = str(request.base_url).rstrip("/") + "/v1/payments/providers/fakepay/callback"
    delay = delay_s if mode == "delay" or delay_s else 0.0
    task = asyncio.create_task(deliver(callbacks, url, delay_s=max(delay, 0.2)))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return RedirectResponse(f"{order['return_url']}", status_code=303)

"""A provider's signed payment callback (fakepay) vs the one-row insert anchor.

Setup seeds, directly in the bench database, an agency, a dossier, its obligation and a payment attempt, and
signs one success callback for that attempt. The first request credits it; every later one is the duplicate
path that matters under a provider's retries: verify the HMAC, lock the attempt, record the callback (one
insert), answer. Signed at setup time: the run must finish inside DVC_PAYMENT_CALLBACK_WINDOW_S (300 s).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.model import BenchContext, Request, Scenario

AMOUNT = 500000


async def setup(ctx: BenchContext) -> Request:
    from app.core.settings import get_settings
    from app.fees.providers.fakepay import FakePayBank

    now = datetime.now(UTC)
    agency, dossier, obligation, attempt = (f"BENCH.{uuid.uuid4().hex[:8]}", uuid.uuid4(), uuid.uuid4(),
                                            uuid.uuid4())
    ref = f"DVCBENCH{uuid.uuid4().hex[:10].upper()}"
    connection = await asyncpg.connect(ctx.database_dsn)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO agencies (id, code, name, level, saturday_morning, created_at, updated_at)"
                " VALUES ($1, $2, 'Sở thử nghiệm', 'department', false, $3, $3)", uuid.uuid4(), agency, now)
            await connection.execute(
                "INSERT INTO dossiers (id, procedure_code, procedure_version, procedure_name, agency_code,"
                " agency_name, applicant_kind, channel, source, delivery_method, form, state, created_at,"
                " updated_at, version) VALUES ($1, 'bench', 1, 'Thủ tục', $2, 'Sở thử nghiệm', 'citizen',"
                " 'online', 'online', 'online', '{}'::jsonb, 'submitted', $3, $3, 1)", dossier, agency, now)
            await connection.execute(
                "INSERT INTO fee_obligations (id, dossier_id, stage, due, paid, refunded, created_at)"
                " VALUES ($1, $2, 'before_processing', $3, 0, 0, $4)", obligation, dossier, AMOUNT, now)
            await connection.execute(
                "INSERT INTO payment_attempts (id, obligation_id, dossier_id, provider, provider_ref, amount, state,"
                " credited, refunded, created_at, updated_at, expires_at) VALUES ($1, $2, $3, 'fakepay', $4, $5,"
                " 'started', false, 0, $6, $6, $7)", attempt, obligation, dossier, ref, AMOUNT, now,
                now + timedelta(minutes=90))
    finally:
        await connection.close()
    bank = FakePayBank(secret=get_settings().fakepay_secret)
    callback = bank.callback(ref, f"FPBENCH{uuid.uuid4().hex[:8].upper()}", "succeeded", AMOUNT)
    assert json.loads(callback.body)["order_ref"] == ref
    return Request("POST", "/v1/payments/providers/fakepay/callback", dict(callback.headers), callback.body)


SCENARIO = Scenario(name="payment_callback", anchor="insert",
                    description="signed fakepay callback (verify, lock attempt, record, answer) vs one-row insert",
                    setup=setup)

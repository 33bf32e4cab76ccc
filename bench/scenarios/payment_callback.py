"""A provider's signed first payment callback (fakepay) vs the one-row insert anchor.

Setup seeds, directly in the bench database, an agency and ATTEMPTS dossiers, each with its fee obligation
(due before processing) and a started payment attempt, and signs one success callback per attempt. The load
rotates through them once: every request is a distinct, valid first callback, so it runs the whole credit
path: verify the HMAC, the already-settled check, lock the attempt, lock the obligation, credit it, the
`payment.succeeded` outbox event, record the callback (one insert), answer. The dossiers are `submitted`, not
`payment_requested`, so no workflow transition follows (that cost is the transition scenario's).
Signed at setup time: the run must finish inside DVC_PAYMENT_CALLBACK_WINDOW_S (300 s). A run that sends more
requests than ATTEMPTS wraps round into duplicates; the runner warns when it does.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.model import BenchContext, Request, Scenario, Variant

AMOUNT = 500000
ATTEMPTS = 30000  # > the requests of a default run (probe, 1 s warm-up, 10 s) at several times the anchor's rate


async def setup(ctx: BenchContext) -> Request:
    from app.core.settings import get_settings
    from app.fees.providers.fakepay import FakePayBank

    now = datetime.now(UTC)
    agency, batch = f"BENCH.{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8].upper()
    connection = await asyncpg.connect(ctx.database_dsn)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO agencies (id, code, name, level, saturday_morning, created_at, updated_at)"
                " VALUES ($1, $2, 'Sở thử nghiệm', 'department', false, $3, $3)", uuid.uuid4(), agency, now)
            # One set-based statement per table: n -> (dossier, obligation, attempt) with derived ids.
            await connection.execute(
                "CREATE TEMP TABLE bench_pay ON COMMIT DROP AS SELECT n, gen_random_uuid() AS dossier,"
                " gen_random_uuid() AS obligation, gen_random_uuid() AS attempt,"
                " 'DVCB' || $1 || lpad(n::text, 6, '0') AS ref FROM generate_series(1, $2) AS n", batch, ATTEMPTS)
            await connection.execute(
                "INSERT INTO dossiers (id, procedure_code, procedure_version, procedure_name, agency_code,"
                " agency_name, applicant_kind, channel, source, delivery_method, form, state, created_at,"
                " updated_at, version) SELECT dossier, 'bench', 1, 'Thủ tục', $1, 'Sở thử nghiệm', 'citizen',"
                " 'online', 'online', 'online', '{}'::jsonb, 'submitted', $2, $2, 1 FROM bench_pay", agency, now)
            await connection.execute(
                "INSERT INTO fee_obligations (id, dossier_id, stage, due, paid, refunded, created_at)"
                " SELECT obligation, dossier, 'before_processing', $1, 0, 0, $2 FROM bench_pay", AMOUNT, now)
            await connection.execute(
                "INSERT INTO payment_attempts (id, obligation_id, dossier_id, agency_code, provider, provider_ref,"
                " amount, state, credited, refunded, created_at, updated_at, expires_at) SELECT attempt, obligation,"
                " dossier, $4, 'fakepay', ref, $1, 'started', false, 0, $2, $2, $3 FROM bench_pay", AMOUNT, now,
                now + timedelta(minutes=90), agency)
            refs = [row["ref"] for row in await connection.fetch("SELECT ref FROM bench_pay ORDER BY n")]
    finally:
        await connection.close()
    bank = FakePayBank(secret=get_settings().fakepay_secret)
    variants = []
    for n, ref in enumerate(refs):
        callback = bank.callback(ref, f"FPB{batch}{n:06d}", "succeeded", AMOUNT)
        variants.append(Variant("/v1/payments/providers/fakepay/callback", dict(callback.headers), callback.body))
    assert json.loads(variants[-1].body or b"{}")["order_ref"] == refs[-1]
    return Request("POST", variants[0].path, {}, None, rotation=tuple(variants), single_use=True)


SCENARIO = Scenario(name="payment_callback", anchor="insert",
                    description="signed first fakepay callback per attempt (verify, lock attempt and obligation, "
                                "credit, outbox, record) vs one-row insert",
                    setup=setup)

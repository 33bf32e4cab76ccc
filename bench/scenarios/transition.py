"""A workflow transition with If-Match (appraise on a dossier in processing) vs the one-row insert anchor.

Setup writes, through the app's own services on the bench database, an agency, a published procedure, a
processing official and DOSSIERS dossiers already in `processing` (with their progress rows). The load
rotates through them: request k is `POST /v1/dossiers/{id_k}/transitions {"action": "appraise"}` with
`If-Match: *` (any current version: the load generator cannot echo each new ETag). Each one runs the whole
path: token and registration, the dossier row lock and compare-and-set on its version, the engine, a step
record, a hash-chained history entry, the outbox event and the answer with the new ETag. Concurrent requests
hit different dossiers (as they do in an agency), so they do not queue on one row lock; `appraise` keeps the
dossier in `processing`, so the rotation can wrap round.
"""

from __future__ import annotations

import json
import uuid

from bench.model import BenchContext, Request, Scenario, Variant
from bench.seed import AGENCY_NAME, publish_procedure

DOSSIERS = 2000


async def seed_processing_dossiers(dsn: str, issuer: str, subject: str, count: int) -> list[uuid.UUID]:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.core import clock
    from app.dossiers.models import Dossier
    from app.identity import staff
    from app.identity.schemas import OfficialIn
    from app.workflow.models import GENESIS_HASH, DossierProgress

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            agency, version = await publish_procedure(session, [{"key": "don", "name": "Đơn"}], processing_days=15)
            official = await staff.create_official(session, None, OfficialIn.model_validate({
                "issuer": issuer, "subject": subject, "email": "tham.dinh@bench.gov.vn", "name": "Thẩm Định",
                "agency_code": agency, "roles": ["processing"]}))
            now = clock.now()
            dossiers = [Dossier(procedure_code=version.procedure_code, procedure_version=version.version,
                                procedure_name=version.name, agency_code=agency,
                                agency_name=AGENCY_NAME, applicant_kind="citizen", channel="online",
                                source="online", delivery_method="online", form={}, state="processing",
                                national_status_code=4, submitted_at=now, received_at=now,
                                due_at=now.replace(year=now.year + 1), code=f"{agency}-BENCH-{n:05d}")
                        for n in range(count)]
            session.add_all(dossiers)
            await session.flush()
            session.add_all([DossierProgress(
                dossier_id=dossier.id, previous_state="received", original_due_at=dossier.due_at,
                paused_working_days=0, assignee_id=official.id, approved=False, supplement_requests=0,
                step_started_at=now, history_seq=0, history_hash=GENESIS_HASH) for dossier in dossiers])
            return [dossier.id for dossier in dossiers]
    finally:
        await engine.dispose()


async def setup(ctx: BenchContext) -> Request:
    subject = f"official-{uuid.uuid4().hex}"
    ids = await seed_processing_dossiers(ctx.database_dsn, ctx.identity.issuer, subject, DOSSIERS)
    headers = {**ctx.identity.bearer(ctx.identity.token(subject, email="tham.dinh@bench.gov.vn")), "If-Match": "*"}
    paths = [f"/v1/dossiers/{dossier_id}/transitions" for dossier_id in ids]
    return Request.json("POST", paths[0], json.dumps({"action": "appraise"}).encode(), headers=headers,
                        rotation=tuple(Variant(path) for path in paths))


SCENARIO = Scenario(name="transition", anchor="insert",
                    description=f"appraise with If-Match: * across {DOSSIERS:,} dossiers (lock, compare-and-set, "
                                "history, step, outbox) vs insert",
                    setup=setup)

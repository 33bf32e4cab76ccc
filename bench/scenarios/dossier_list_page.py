"""An official's first page of the agency list (`GET /v1/dossiers?state=processing&limit=20`) vs the primary-key
read anchor: the per-request cost of building a page (visibility and filters in SQL, the progress rows of the
page in one query, 20 full dossier items). The database side at 1,000,000 rows is `python -m bench.dossier_list`;
this scenario seeds the transition scenario's 2,000 dossiers and is the quick, repeatable measure of the rest.
"""

from __future__ import annotations

import uuid

from bench.model import BenchContext, Request, Scenario
from bench.scenarios.transition import seed_processing_dossiers

DOSSIERS = 2000


async def setup(ctx: BenchContext) -> Request:
    subject = f"official-{uuid.uuid4().hex}"
    await seed_processing_dossiers(ctx.database_dsn, ctx.identity.issuer, subject, DOSSIERS)
    headers = ctx.identity.bearer(ctx.identity.token(subject, email="tham.dinh@bench.gov.vn"))
    return Request("GET", "/v1/dossiers?state=processing&limit=20", headers=headers)


SCENARIO = Scenario(name="dossier_list_page", anchor="pk_read",
                    description="official's first agency list page (20 items) vs primary-key read", setup=setup)

"""Ratings (once, only when final, only by the applicant) and who may read which indicators (BOLA)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from app.core.db import get_database
from app.reporting.counters import Deltas, write_deltas
from app.reporting.models import ReportingCounter
from tests.reporting.conftest import finish

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def figure(report: dict, group: str, name: str) -> tuple:
    g = next(x for x in report["groups"] if x["name"] == group)
    r = next(x for x in g["ratios"] if x["name"] == name)
    return r["numerator"], r["denominator"]


async def test_rating_once_by_the_applicant_after_the_end(client, flow, at, accounts):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    url = f"/v1/dossiers/{did}/rating"
    early = await client.post(url, headers=citizen.headers, json={"score": 5})
    assert early.status_code == 409 and early.json()["code"] == "rating_not_allowed"
    await flow.to_processing(did)
    await finish(flow, did)
    processed = await client.post(url, headers=citizen.headers, json={"score": 5})
    assert processed.status_code == 409 and processed.json()["code"] == "rating_not_allowed"  # not returned yet
    await flow.act(flow.reception, did, "return_result", delivery={"method": "online"})

    stranger = await accounts.citizen()
    assert (await client.post(url, headers=stranger.headers, json={"score": 1})).status_code == 404
    assert (await client.post(url, headers=flow.reception.headers, json={"score": 1})).status_code == 403
    assert (await client.post(f"/v1/dossiers/{uuid.uuid4()}/rating", headers=citizen.headers,
                              json={"score": 1})).status_code == 404
    for bad in ({"score": 0}, {"score": 6}, {"score": 3, "extra": 1}, {}):
        assert (await client.post(url, headers=citizen.headers, json=bad)).status_code == 422
    assert (await client.get(url, headers=citizen.headers)).status_code == 404
    rated = await client.post(url, headers=citizen.headers, json={"score": 3, "comment": "  Hơi chậm  "})
    assert rated.status_code == 201, rated.text
    assert rated.json()["score"] == 3 and rated.json()["comment"] == "Hơi chậm"
    assert rated.headers["location"] == url
    second = await client.post(url, headers=citizen.headers, json={"score": 5})
    assert second.status_code == 409 and second.json()["code"] == "conflict"
    seen = await client.get(url, headers=flow.reception.headers)
    assert seen.status_code == 200 and seen.json()["score"] == 3
    admin = await accounts.admin()
    report = (await client.get("/v1/reports/indicators", params=MARCH, headers=admin.headers)).json()
    assert figure(report["total"], "satisfaction", "ratings_satisfied") == (0, 1)  # 3 is below 4
    assert figure(report["total"], "satisfaction", "average_rating") == (3, 1)


async def test_each_caller_reads_only_its_agencies(client, flow, at, accounts):
    at.set(2025, 3, 3, 8, 0)
    await accounts.ensure_agency("B.01")
    code_a = await flow.procedure(processing_days=5)
    code_b = await flow.procedure(agency="B.01", processing_days=5)
    for code, n in ((code_a, 2), (code_b, 1)):
        for _ in range(n):
            await flow.submitted(code)
    at.set(2025, 3, 4, 8, 0)
    official_b = await accounts.official("B.01", ["processing"])
    own = await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "agency"},
                           headers=official_b.headers)
    assert own.status_code == 200
    assert figure(own.json()["total"], "online_service", "dossiers_online") == (1, 1)
    assert [r["agency_code"] for r in own.json()["rows"]] == ["B.01"]
    foreign = await client.get("/v1/reports/indicators", params={**MARCH, "agency": "000.00.12.H01"},
                               headers=official_b.headers)
    assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"
    unknown = await client.get("/v1/reports/indicators", params={**MARCH, "agency": "ZZZ"},
                               headers=official_b.headers)
    assert unknown.status_code == 404
    # An official of the agency above sees the agency under it.
    await accounts.ensure_agency("B")
    async with get_database().write_sessions() as session, session.begin():
        from app.catalogue.models import Agency

        (await session.execute(select(Agency).where(Agency.code == "B.01"))).scalar_one().parent_code = "B"
    head = await accounts.official("B", ["approval"])
    above = await client.get("/v1/reports/indicators", params={**MARCH, "agency": "B.01"}, headers=head.headers)
    assert above.status_code == 200 and figure(above.json()["total"], "online_service", "dossiers_online") == (1, 1)

    integrator = await accounts.client(["reports:read"], ["000.00.12.H01"])
    mine = await client.get("/v1/reports/indicators", params=MARCH, headers=integrator.headers)
    assert figure(mine.json()["total"], "online_service", "dossiers_online") == (2, 2)
    assert (await client.get("/v1/reports/indicators", params={**MARCH, "agency": "B.01"},
                             headers=integrator.headers)).status_code == 404
    no_scope = await accounts.client(["dossiers:read"], ["000.00.12.H01"])
    assert (await client.get("/v1/reports/indicators", headers=no_scope.headers)).status_code == 403
    citizen = await accounts.citizen()
    assert (await client.get("/v1/reports/indicators", headers=citizen.headers)).status_code == 403
    assert (await client.get("/v1/reports/indicators")).status_code == 401
    admin = await accounts.admin()
    everything = await client.get("/v1/reports/indicators", params={**MARCH, "group_by": "agency"},
                                  headers=admin.headers)
    assert figure(everything.json()["total"], "online_service", "dossiers_online") == (3, 3)
    assert [r["agency_code"] for r in everything.json()["rows"]] == ["000.00.12.H01", "B.01"]


async def test_counts_roll_back_with_their_transaction(client, flow, at):
    at.set(2025, 3, 3, 8, 0)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    from app.dossiers.models import Dossier

    async def sums() -> tuple:
        async with get_database().read_sessions() as session:
            return tuple((await session.execute(select(func.sum(ReportingCounter.received),
                                                       func.sum(ReportingCounter.submitted)))).one())

    async with get_database().write_sessions() as session:
        row = await session.get(Dossier, uuid.UUID(dossier["id"]))
        row.state = "received"
        await session.flush()  # the listener gathers the delta; it is written just before COMMIT
        await session.rollback()
    assert await sums() == (0, 1)

    async with get_database().write_sessions() as session, session.begin():
        savepoint = await session.begin_nested()  # a savepoint's deltas are written inside it, undone with it
        row = await session.get(Dossier, uuid.UUID(dossier["id"]))
        row.state = "received"
        await session.flush()
        await savepoint.rollback()
    assert await sums() == (0, 1)

    async with get_database().write_sessions() as session, session.begin():
        row = await session.get(Dossier, uuid.UUID(dossier["id"]))
        row.state = "received"
    assert await sums() == (1, 1)


async def test_concurrent_upserts_add_up(database_url):
    """Many writers incrementing one counter row: the database adds, nothing is lost."""
    from datetime import date

    key = ("C.01", "1.000001", date(2025, 3, 3))

    async def one() -> None:
        async with get_database().write_sessions() as session, session.begin():
            deltas = Deltas()
            deltas.add(key, submitted=1, submitted_online=1)
            await session.run_sync(lambda s: write_deltas(s.connection(), deltas))

    await asyncio.gather(*(one() for _ in range(20)))
    async with get_database().read_sessions() as session:
        row = (await session.execute(select(ReportingCounter).where(ReportingCounter.agency_code == "C.01")))\
            .scalar_one()
    assert (row.submitted, row.submitted_online, row.finished) == (20, 20, 0)

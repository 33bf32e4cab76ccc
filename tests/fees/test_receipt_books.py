"""Desk receipt numbers are unique per agency (paper receipt books are the agency's own), and the migration that made
them so (0028) backfills each payment's agency. Before, a number one agency had recorded was 409 at every other."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.registry import load_all_models
from tests.fees.conftest import Case, Fees
from tests.support.scratch_db import scratch_postgresql

ROOT = Path(__file__).resolve().parents[2]
OTHER_AGENCY = "000.00.31.H31"


async def _desk(client: httpx.AsyncClient, case: Case, receipt: str, amount: int | None = None) -> httpx.Response:
    return await client.post(f"/v1/dossiers/{case.id}/payments/counter", headers=case.finance.headers,
                             json={"receipt_number": receipt, **({"amount": amount} if amount else {})})


async def _owing(client: httpx.AsyncClient, fees: Fees, agency_code: str | None = None) -> Case:
    case = await (fees.case(client) if agency_code is None else fees.case(client, agency_code=agency_code))
    await fees.request_payment(client, case)
    return case


async def test_two_agencies_may_record_the_same_receipt_number(client: httpx.AsyncClient, fees: Fees) -> None:
    here, there = await _owing(client, fees), await _owing(client, fees, OTHER_AGENCY)
    first, second = await _desk(client, here, "0000123"), await _desk(client, there, "0000123")
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["receipt_number"] == second.json()["receipt_number"] == "0000123"
    for case, payment in ((here, first.json()), (there, second.json())):
        receipt = (await client.get(f"/v1/payments/{payment['id']}/receipt", headers=case.citizen.headers)).json()
        assert (receipt["receipt_number"], receipt["agency"]["code"]) == ("0000123", case.dossier["agency_code"])


async def test_the_same_number_twice_at_one_agency_is_still_409(client: httpx.AsyncClient, fees: Fees) -> None:
    one, other = await _owing(client, fees), await _owing(client, fees)
    assert (await _desk(client, one, "QD-77", 100000)).status_code == 201
    again = await _desk(client, other, "QD-77")
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    repeat = await _desk(client, one, "QD-77")  # the same dossier's rest of the balance, the same paper receipt
    assert (repeat.status_code, repeat.json()["code"]) == (409, "conflict")


async def test_agencies_recording_one_number_at_once_all_succeed(client: httpx.AsyncClient, fees: Fees) -> None:
    """Concurrent writers (on PostgreSQL): the per-agency index, not a check that saw nothing, lets them all in."""
    cases = [await _owing(client, fees, f"000.00.4{n}.H4{n}") for n in range(3)]
    responses = await asyncio.gather(*(_desk(client, case, "BL0009") for case in cases))
    assert [r.status_code for r in responses] == [201, 201, 201], [r.text[:200] for r in responses]


# --- the migration ------------------------------------------------------------------------------------------------

def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    return config


async def _seed_0027(url: str) -> dict[str, uuid.UUID]:
    """Two agencies with a dossier each, paid at the desk (receipt 0001 at A) and online (a BL number at B), written
    as revision 0027 knew the tables (no agency on the payments)."""
    tables = load_all_models().tables
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    ids = {name: uuid.uuid4() for name in ("dossier_a", "dossier_b", "obligation_a", "obligation_b", "desk", "online")}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for code in ("A.01", "B.02"):
                await connection.execute(sa.insert(tables["agencies"]).values(
                    id=uuid.uuid4(), code=code, name=f"Agency {code}", level="province", saturday_morning=False,
                    created_at=now, updated_at=now))
            for letter, code in (("a", "A.01"), ("b", "B.02")):
                await connection.execute(sa.insert(tables["dossiers"]).values(
                    id=ids[f"dossier_{letter}"], procedure_code="P1", procedure_version=1, procedure_name="P",
                    agency_code=code, agency_name=code, applicant_kind="citizen", channel="desk", source="desk",
                    delivery_method="desk", form={}, state="received", created_at=now, updated_at=now, version=1))
                await connection.execute(sa.insert(tables["fee_obligations"]).values(
                    id=ids[f"obligation_{letter}"], dossier_id=ids[f"dossier_{letter}"], stage="before_processing",
                    due=1000, paid=1000, refunded=0, created_at=now))
            for name, letter, provider, receipt in (("desk", "a", "counter", "0001"),
                                                    ("online", "b", "fakepay", "BL-260302-0123456789")):
                await connection.execute(sa.insert(tables["payment_attempts"]).values(
                    id=ids[name], obligation_id=ids[f"obligation_{letter}"], dossier_id=ids[f"dossier_{letter}"],
                    provider=provider, provider_ref=f"DVC{name}", provider_txn_id=receipt if provider == "counter"
                    else "FP1", amount=1000, state="succeeded", credited=True, refunded=0, receipt_number=receipt,
                    created_at=now, updated_at=now, expires_at=now + timedelta(minutes=90)))
    finally:
        await engine.dispose()
    return ids


async def _another_desk_receipt(url: str, ids: dict[str, uuid.UUID], letter: str, agency_code: str) -> None:
    """A second desk payment numbered 0001, for the dossier of `letter` (at `agency_code`)."""
    now = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.insert(load_all_models().tables["payment_attempts"]).values(
                id=uuid.uuid4(), obligation_id=ids[f"obligation_{letter}"], dossier_id=ids[f"dossier_{letter}"],
                agency_code=agency_code, provider="counter", provider_ref=f"DVC{uuid.uuid4().hex[:8]}",
                provider_txn_id="0001", amount=1000, state="succeeded", credited=False, refunded=0,
                receipt_number="0001", created_at=now, updated_at=now, expires_at=now))
    finally:
        await engine.dispose()


async def _agencies_of_payments(url: str) -> dict[uuid.UUID, str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            table = load_all_models().tables["payment_attempts"]
            rows = (await connection.execute(sa.select(table.c.id, table.c.agency_code))).all()
    finally:
        await engine.dispose()
    return {row.id: row.agency_code for row in rows}


async def _check_the_migration(url: str) -> None:
    config = _config(url)
    await asyncio.to_thread(command.upgrade, config, "0027")
    ids = await _seed_0027(url)
    await asyncio.to_thread(command.upgrade, config, "0028")
    assert await _agencies_of_payments(url) == {ids["desk"]: "A.01", ids["online"]: "B.02"}  # backfilled
    await _another_desk_receipt(url, ids, "b", "B.02")  # another agency's book: its own 0001
    with pytest.raises(sa.exc.IntegrityError):
        await _another_desk_receipt(url, ids, "a", "A.01")  # the same book, the same number
    with pytest.raises(RuntimeError, match="0001 \\(2 agencies\\)"):
        await asyncio.to_thread(command.downgrade, config, "0027")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM payment_attempts WHERE agency_code = 'B.02' AND "
                                             "provider = 'counter'"))
    finally:
        await engine.dispose()
    await asyncio.to_thread(command.downgrade, config, "0027")
    await asyncio.to_thread(command.upgrade, config, "head")


def test_the_migration_backfills_agencies_and_scopes_receipt_numbers_on_sqlite(tmp_path: Path) -> None:
    asyncio.run(_check_the_migration(f"sqlite+aiosqlite:///{tmp_path / 'receipts.db'}"))


@pytest.mark.skipif(not os.environ.get("DVC_TEST_DATABASE_URL"), reason="PostgreSQL run only")
def test_the_migration_backfills_agencies_and_scopes_receipt_numbers_on_postgresql() -> None:
    with scratch_postgresql("dvc_receipts") as url:
        asyncio.run(_check_the_migration(url))

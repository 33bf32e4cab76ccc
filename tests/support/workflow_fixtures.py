"""Driving dossiers through the workflow over HTTP: procedures with chosen rules, officials, and `act`.

    async def test_x(flow):
        code = await flow.procedure(processing_days=5)
        citizen, dossier = await flow.submitted(code)
        received = await flow.act(flow.reception, dossier["id"], "receive")
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts, Actor
from tests.support.paging import every_item


class Flow:
    def __init__(self, client: Any, accounts: Accounts, dossiers: Dossiers) -> None:
        self.client, self.accounts, self.dossiers = client, accounts, dossiers
        self.reception: Actor
        self.processing: Actor
        self.approval: Actor
        self.finance: Actor

    async def officials(self, agency: str = DEFAULT_AGENCY) -> None:
        self.reception = await self.accounts.official(agency, ["reception"], name="Lê Thị Tiếp Nhận")
        self.processing = await self.accounts.official(agency, ["processing"], name="Phạm Văn Thẩm Định")
        self.approval = await self.accounts.official(agency, ["approval"], name="Nguyễn Văn Duyệt")
        self.finance = await self.accounts.official(agency, ["finance"], name="Hoàng Thị Kế Toán")

    async def procedure(self, agency: str = DEFAULT_AGENCY, **overrides: Any) -> str:
        """A published procedure with the given version fields (processing_days, fee_items, result, ...)."""
        parts = overrides.pop("document_parts", None)
        overrides.setdefault("result", {"name": "Giấy chứng nhận", "must_be_signed": False})
        return await self.dossiers.procedure(agency, parts=parts, **overrides)

    async def submitted(self, code: str, citizen: Actor | None = None) -> tuple[Actor, dict[str, Any]]:
        citizen = citizen or await self.accounts.citizen(name="Trần Văn Đức")
        return citizen, await self.dossiers.submitted(self.client, citizen, code)

    async def get(self, actor: Actor, dossier_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/dossiers/{dossier_id}", headers=actor.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def post(self, actor: Actor, dossier_id: str, action: str, etag: str | None = None, **body: Any) -> Any:
        """POST a transition; the If-Match is read first unless given."""
        if etag is None:
            read = await self.client.get(f"/v1/dossiers/{dossier_id}", headers=actor.headers)
            etag = read.headers.get("etag", '"0"')
        return await self.client.post(f"/v1/dossiers/{dossier_id}/transitions", json={"action": action, **body},
                                      headers={**actor.headers, "If-Match": etag})

    async def act(self, actor: Actor, dossier_id: str, action: str, **body: Any) -> dict[str, Any]:
        response = await self.post(actor, dossier_id, action, **body)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{response.json()["version"]}"'
        return dict(response.json())

    async def upload_result(self, dossier_id: str, content: bytes) -> str:
        response = await self.client.post(f"/v1/dossiers/{dossier_id}/attachments", headers=self.approval.headers,
                                          data={"part": "result"},
                                          files={"file": ("ket-qua.pdf", content, "application/pdf")})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def upload_supplement(self, actor: Actor, dossier_id: str) -> str:
        response = await self.dossiers.upload(self.client, actor, dossier_id, "id_copy", file_name="bo-sung.pdf")
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def to_processing(self, dossier_id: str) -> dict[str, Any]:
        await self.act(self.reception, dossier_id, "receive")
        return await self.act(self.reception, dossier_id, "assign", assignee=str(self.processing.id))

    async def history(self, actor: Actor, dossier_id: str) -> list[dict[str, Any]]:
        return await every_item(self.client, f"/v1/dossiers/{dossier_id}/history", actor.headers)

    async def notices(self, actor: Actor, dossier_id: str) -> list[dict[str, Any]]:
        return await every_item(self.client, f"/v1/dossiers/{dossier_id}/notices", actor.headers)


async def outbox_events(dossier_id: str, event_type: str = "dossier.status_changed") -> list[dict[str, Any]]:
    from app.core.db import get_database
    from app.core.outbox import OutboxEvent

    async with get_database().read_sessions() as session:
        rows = await session.execute(select(OutboxEvent.payload).where(
            OutboxEvent.aggregate_id == uuid.UUID(dossier_id), OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.id))
        return [dict(p) for p in rows.scalars()]


@pytest.fixture
async def flow(client: Any, accounts: Accounts, dossiers: Dossiers) -> Flow:
    f = Flow(client, accounts, dossiers)
    await f.officials()
    return f


async def behind_the_history_triggers(dossier_id: str, sql: str) -> None:
    """Run `sql` (with `:id`, the dossier's id) on dossier_history as an attacker with database access would:
    past the append-only triggers of migration 0006, which are put back afterwards."""
    from app.core.db import get_database

    async with get_database().write_engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        # SQLAlchemy's Uuid stores 32 hex digits on SQLite and a native uuid on PostgreSQL.
        params = {"id": uuid.UUID(dossier_id) if postgres else uuid.UUID(dossier_id).hex}
        if postgres:
            await connection.execute(text("ALTER TABLE dossier_history DISABLE TRIGGER dossier_history_append_only"))
            await connection.execute(text(sql), params)
            await connection.execute(text("ALTER TABLE dossier_history ENABLE TRIGGER dossier_history_append_only"))
            return
        triggers = (await connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'dossier_history'"))).all()
        for name, _ in triggers:
            await connection.execute(text(f'DROP TRIGGER "{name}"'))
        await connection.execute(text(sql), params)
        for _, create in triggers:
            await connection.execute(text(create))


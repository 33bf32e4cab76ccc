"""The transactional outbox: side effects (national-portal sync, webhooks, notifications) are written as rows
in the same transaction as the change they describe, and delivered after commit by `dvc worker`.

A crash between commit and delivery loses nothing: the row is still there, undelivered.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base, BigIntId


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    # A monotonically increasing id gives consumers a global order (per-dossier order follows from it).
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[uuid.UUID]
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_outbox_events_aggregate", "aggregate_type", "aggregate_id", "id"),)


async def emit(
    session: AsyncSession, event_type: str, *, aggregate_type: str, aggregate_id: uuid.UUID, payload: dict[str, Any]
) -> OutboxEvent:
    """Record an event inside the caller's transaction; it is delivered only if that transaction commits.

    The row goes to the database with the transaction's next flush (at the latest its commit), in the order
    of the calls; `event_id` is set here, `id` only once flushed.
    """
    event = OutboxEvent(event_id=uuid.uuid4(), event_type=event_type, aggregate_type=aggregate_type,
                        aggregate_id=aggregate_id, payload=payload, created_at=clock.now())
    session.add(event)
    return event

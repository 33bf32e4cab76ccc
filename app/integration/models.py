"""Integration tables: dossiers forwarded by the national portal, what the portal last heard, webhook
subscriptions.

Delivery state itself (pending, attempts, last error, dead) lives in core's `outbox_deliveries`; these tables
hold only what that one cannot: the national dossier id of a forwarded dossier (idempotency key of intake and
`MaHoSo` when syncing it back), the last status the portal acknowledged per dossier (what reporting counts as
"synced"), and the subscriptions webhooks fan out to.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base
from app.core.secrets import EncryptedText


class NationalDossier(Base):
    """A dossier that arrived from the national portal, keyed by the portal's own dossier id."""

    __tablename__ = "national_dossiers"

    national_dossier_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    received_at: Mapped[datetime] = mapped_column(default=clock.column_now)


class DossierSyncStatus(Base):
    """The last status code the national portal acknowledged for a dossier, and when."""

    __tablename__ = "dossier_sync_status"

    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), primary_key=True)
    last_synced_code: Mapped[int] = mapped_column(Integer)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    first_synced_at: Mapped[datetime]
    synced_at: Mapped[datetime]


class WebhookSubscription(Base):
    """An integrator client's target URL for some event types. Deleting keeps the row (its delivery log stays
    readable) and stops deliveries."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_client", "client_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    url: Mapped[str] = mapped_column(Text)
    # HMAC signing needs the key itself (a hash would not do): stored encrypted (app.core.secrets), shown once.
    secret: Mapped[str] = mapped_column(EncryptedText)
    # After a rotation the secret it replaced signs too (a second v1), until the client's receiver has the new one.
    previous_secret: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(String(400), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # The optimistic-concurrency counter behind the subscription's ETag (app.core.etag): PATCH needs If-Match.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012

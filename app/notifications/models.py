"""Notification tables: each applicant account's channel preferences, and the log of messages.

- `notification_preferences`: one row per applicant account that has changed its choices (no row: defaults,
  see app/notifications/preferences.py).
- `notification_messages`: one row per (outbox event, channel) chosen at fan-out, about a dossier (`dossier_id`)
  or, for account-level messages (a representative's mandate), about an account (`account_id`: the recipient),
  in the same transaction as
  the outbox delivery row that carries it (app/core/delivery.py); the delivery row holds the state (pending,
  delivered, dead), attempts and last error. The recipient is the full address (it is needed to send);
  it is masked whenever it leaves this table (API, logs). Subject and body are filled when the message is
  rendered, just before the first attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base, BigIntId


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    zalo: Mapped[bool] = mapped_column(Boolean)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)


class NotificationMessage(Base):
    __tablename__ = "notification_messages"
    __table_args__ = (UniqueConstraint("event_id", "channel"),
                      CheckConstraint("dossier_id IS NOT NULL OR account_id IS NOT NULL",
                                      name="about_dossier_or_account"),
                      Index("ix_notification_messages_dossier", "dossier_id", "id"),
                      Index("ix_notification_messages_account", "account_id", "id"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("outbox_events.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    dossier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), default=None)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(320))
    # Sent although the applicant switched this channel off: a legally required message (see preferences.py).
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    subject: Mapped[str | None] = mapped_column(Text, default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)

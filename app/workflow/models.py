"""Workflow tables. For now the calendar overrides; the workflow engine adds its tables here."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base


class CalendarOverride(Base):
    """A system admin's correction of the working calendar for one date; wins over the `holidays` package.

    `updated_by` is the admin's account id, kept without a foreign key so that the calendar does not
    depend on the identity tables' migration.
    """

    __tablename__ = "calendar_overrides"

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(400), default="")
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

"""Catalogue tables: agencies, fields, procedures and their versions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base


class AgencyLevel(enum.StrEnum):
    ministry = "ministry"
    province = "province"
    department = "department"
    district = "district"  # history only: districts were abolished on 2025-07-01
    commune = "commune"


class Agency(Base):
    """An office that receives and decides dossiers (cơ quan / đơn vị)."""

    __tablename__ = "agencies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(400))
    parent_code: Mapped[str | None] = mapped_column(String(64), ForeignKey("agencies.code"), default=None)
    level: Mapped[AgencyLevel] = mapped_column(Enum(AgencyLevel, native_enum=False, length=16))
    province: Mapped[str | None] = mapped_column(String(200), default=None)
    address: Mapped[str | None] = mapped_column(Text, default=None)
    working_hours: Mapped[str | None] = mapped_column(String(200), default=None)
    saturday_morning: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

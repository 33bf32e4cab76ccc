"""Identity tables: accounts, the token identities linked to them, representatives, and the audit log."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from app.core import clock
from app.core.db import Base, BigIntId


class AccountKind(enum.StrEnum):
    citizen = "citizen"
    organisation = "organisation"
    official = "official"
    client = "client"


class AccountStatus(enum.StrEnum):
    active = "active"
    suspended = "suspended"


class OfficialRole(enum.StrEnum):
    reception = "reception"
    processing = "processing"
    approval = "approval"
    finance = "finance"
    agency_admin = "agency_admin"
    system_admin = "system_admin"


class ClientScope(enum.StrEnum):
    dossiers_read = "dossiers:read"
    dossiers_sync = "dossiers:sync"
    catalogue_write = "catalogue:write"
    reports_read = "reports:read"


APPLICANT_KINDS = frozenset({AccountKind.citizen, AccountKind.organisation})


class Account(Base):
    """Anyone who may call the API: an applicant, an official or an integrator system.

    The identification number lives in the column of its kind only (enforced by the check constraints), so a
    plain unique index on each column means "unique among citizens" / "unique among organisations".
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("(kind = 'citizen') = (citizen_id IS NOT NULL)", name="citizen_id_iff_citizen"),
        CheckConstraint("(kind = 'organisation') = (tax_code IS NOT NULL)", name="tax_code_iff_organisation"),
        CheckConstraint("(kind = 'client') = (client_id IS NOT NULL)", name="client_id_iff_client"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[AccountKind] = mapped_column(Enum(AccountKind, native_enum=False, length=16))
    status: Mapped[AccountStatus] = mapped_column(Enum(AccountStatus, native_enum=False, length=16),
                                                  default=AccountStatus.active)
    citizen_id: Mapped[str | None] = mapped_column(String(12), unique=True, default=None)
    tax_code: Mapped[str | None] = mapped_column(String(14), unique=True, default=None)
    client_id: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    name: Mapped[str | None] = mapped_column(String(400), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    address: Mapped[str | None] = mapped_column(Text, default=None)
    agency_code: Mapped[str | None] = mapped_column(String(64), ForeignKey("agencies.code"), index=True,
                                                    default=None)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    agency_codes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)
    # The optimistic-concurrency counter behind an official's or client's ETag (app.core.etag): SQLAlchemy checks
    # and bumps it on every UPDATE, so an administrator's stale change fails instead of overwriting another's.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Identity(Base):
    """A token's (issuer, subject), bound to one account; the gate's lookup key."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)


class Representative(Base):
    """A citizen account authorised by an organisation account to file dossiers for it (a mandate).

    A paper authorisation (giấy ủy quyền) has a term: `valid_from` is the instant it starts (None: from when it was
    given), `valid_until` the instant it ends (None: until withdrawn). The organisation may move either, with
    If-Match on the version counter below.
    """

    __tablename__ = "representatives"
    __table_args__ = (UniqueConstraint("organisation_id", "citizen_account_id"),
                      CheckConstraint("valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
                                      name="term_starts_before_it_ends"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    citizen_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                                          index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    # The term end the organisation was reminded of (app.identity.mandate_events): a changed term may get its own
    # reminder. Written with a plain UPDATE, not through the version counter: a reminder changes no ETag.
    expiry_notice_for: Mapped[datetime | None] = mapped_column(default=None)
    # The term start the citizen and the organisation were told of when it came (app.identity.mandate_events): a
    # start moved later may be told of again. A plain UPDATE too; None for a mandate in force from when it was given.
    start_notice_for: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


def mandate_in_force(moment: Any) -> ColumnElement[bool]:
    """The one rule for "this mandate lets its citizen act", in SQL: its term has begun by `moment` (no start, or a
    start at or before it) and not ended (no end, or an end after it); `moment` is a value or a bind parameter. The
    `X-On-Behalf-Of` gate filters by it and the mandate lists select it."""
    return and_(or_(Representative.valid_from.is_(None), Representative.valid_from <= moment),
                or_(Representative.valid_until.is_(None), Representative.valid_until > moment))


class AccountAudit(Base):
    """Who changed which account, when, and from what to what (never updated, never deleted)."""

    __tablename__ = "account_audit"
    __table_args__ = (Index("ix_account_audit_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # None: the command line
    action: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> {"old": ..., "new": ...}
    at: Mapped[datetime] = mapped_column(default=clock.column_now)

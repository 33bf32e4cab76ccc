"""Catalogue tables: agencies, fields, procedures and their versions."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base, BigIntId
from app.core.secrets import EncryptedText


class AgencyLevel(enum.StrEnum):
    ministry = "ministry"
    province = "province"
    department = "department"
    district = "district"  # history only: districts were abolished on 2025-07-01
    commune = "commune"


class OnlineLevel(enum.StrEnum):
    """Decree 42/2022: full (toàn trình), partial (một phần), or not online at all."""

    full = "full"
    partial = "partial"
    direct = "direct"


class VersionStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


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
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)
    # The optimistic-concurrency counter behind the agency's ETag (app.core.etag), checked and bumped by SQLAlchemy
    # on every UPDATE.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


_LIVE_KEY_SQL = "removed_at IS NULL"


class AgencySigningKey(Base):
    """The key an agency signs the documents it issues with (its chữ ký số cơ quan), one row per upload.

    The row's id is the key's version: a replacement is a new row, so a worker's cached signer, keyed by agency and
    id, is never taken for the new key. A replaced or removed row keeps what it was (certificate, who uploaded and
    removed it, when: the trail of the agency's keys) but loses its key material."""

    __tablename__ = "agency_signing_keys"
    __table_args__ = (
        # One key in force per agency: the database settles two concurrent uploads.
        Index("uq_agency_signing_keys_live", "agency_code", unique=True,
              sqlite_where=text(_LIVE_KEY_SQL), postgresql_where=text(_LIVE_KEY_SQL)),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    agency_code: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.code"))
    # Key, certificate and chain as a PKCS#12 without a passphrase, base64, Fernet-encrypted (app.core.secrets);
    # NULL once replaced or removed.
    pkcs12: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    serial_number: Mapped[str] = mapped_column(String(128))  # hexadecimal
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))  # of the certificate (DER), hexadecimal
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Field(Base):
    """A subject area (lĩnh vực), optionally scoped to one agency."""

    __tablename__ = "catalogue_fields"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(400))
    agency_code: Mapped[str | None] = mapped_column(String(64), ForeignKey("agencies.code"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)


class Procedure(Base):
    """A procedure's identity (its national code); everything else lives in its versions."""

    __tablename__ = "procedures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    # The highest version number given so far. Numbers are never reused: a deleted draft's ETag (its revision,
    # from 1) must not match a later draft at the same URL, and a draft is stale once a higher number is published.
    last_version_number: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Bumped by every publish/retire: the row lock taken on it serialises lifecycle changes per procedure.
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)


class ProcedureVersion(Base):
    """One version of a procedure. The draft (at most one) is editable; published and retired versions are
    history."""

    __tablename__ = "procedure_versions"
    __table_args__ = (
        UniqueConstraint("procedure_code", "version"),
        # The database, not only the code, keeps at most one published version per procedure.
        Index("uq_procedure_versions_one_published", "procedure_code", unique=True,
              sqlite_where=text("status = 'published'"), postgresql_where=text("status = 'published'")),
        # And at most one draft: two editors' parallel drafts would race to publish (app.catalogue.versions).
        Index("uq_procedure_versions_one_draft", "procedure_code", unique=True,
              sqlite_where=text("status = 'draft'"), postgresql_where=text("status = 'draft'")),
        Index("ix_procedure_versions_live", "status", "valid_from", "procedure_code"),
        # On PostgreSQL the migration builds these as pg_trgm GIN indexes; elsewhere they are plain indexes.
        Index("ix_procedure_versions_search_name", "search_name",
              postgresql_using="gin", postgresql_ops={"search_name": "gin_trgm_ops"}),
        Index("ix_procedure_versions_search_extra", "search_extra",
              postgresql_using="gin", postgresql_ops={"search_extra": "gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    procedure_code: Mapped[str] = mapped_column(String(64), ForeignKey("procedures.code", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(Enum(VersionStatus, native_enum=False, length=16),
                                                  default=VersionStatus.draft)
    name: Mapped[str] = mapped_column(Text)
    agency_code: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.code"), index=True)
    field_code: Mapped[str] = mapped_column(String(64), ForeignKey("catalogue_fields.code"), index=True)
    online_level: Mapped[OnlineLevel] = mapped_column(Enum(OnlineLevel, native_enum=False, length=16))
    applicant_kinds: Mapped[list[Any]] = mapped_column(default=list)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    processing_days: Mapped[int] = mapped_column(Integer)
    clock_on_supplement: Mapped[str] = mapped_column(String(16), default="pause")
    document_parts: Mapped[list[Any]] = mapped_column(default=list)
    fee_items: Mapped[list[Any]] = mapped_column(default=list)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    form_schema: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    workflow: Mapped[str] = mapped_column(String(64), default="standard")
    legal_basis: Mapped[str | None] = mapped_column(Text, default=None)
    step_time_limits: Mapped[list[Any]] = mapped_column(default=list)
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_to: Mapped[datetime | None] = mapped_column(default=None)
    # Stated by the editor, not inferred from empty fee_items: a version whose fees nobody entered is incomplete
    # (app.reporting.announcements), one that charges nothing is not.
    no_fee: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The decision announcing this version (quyết định công bố) and the day the legal act it implements takes
    # effect: all three or none (schemas.Announcement). Columns, not JSON, so that the Decision 766 figure can
    # filter and group on the effective date in SQL.
    announcement_decision_number: Mapped[str | None] = mapped_column(String(100), default=None)
    announcement_decision_date: Mapped[date | None] = mapped_column(Date, default=None)
    announcement_effective_date: Mapped[date | None] = mapped_column(Date, default=None, index=True)
    # The moment the status last became published (publish, or an import writing the version): the time it
    # was made public, which valid_from (when it applies) is not. NULL for drafts, and for versions published
    # before revision 0035, when nothing recorded it.
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    # Maintained on every write (app.catalogue.text): normalised name, field+agency names, and filter tags.
    search_name: Mapped[str] = mapped_column(Text, default=" ")
    search_extra: Mapped[str] = mapped_column(Text, default=" ")
    facets: Mapped[str] = mapped_column(String(200), default=" ")
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)
    # The optimistic-concurrency counter behind the version's ETag (app.core.etag), checked and bumped by SQLAlchemy
    # on every UPDATE (`version` is taken: it is the procedure's version number).
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012

    @property
    def announcement(self) -> dict[str, str] | None:
        """The announcement as content (app.catalogue.content.content_of): plain JSON, as an import entry's."""
        if self.announcement_decision_number is None or self.announcement_decision_date is None \
                or self.announcement_effective_date is None:
            return None
        return {"decision_number": self.announcement_decision_number,
                "decision_date": self.announcement_decision_date.isoformat(),
                "effective_date": self.announcement_effective_date.isoformat()}

    @announcement.setter
    def announcement(self, value: dict[str, Any] | None) -> None:
        def day(raw: Any) -> date:
            return raw if isinstance(raw, date) else date.fromisoformat(str(raw))

        value = value or {}
        self.announcement_decision_number = value.get("decision_number")
        self.announcement_decision_date = day(value["decision_date"]) if value else None
        self.announcement_effective_date = day(value["effective_date"]) if value else None

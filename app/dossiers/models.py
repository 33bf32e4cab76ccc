"""Dossier tables: dossiers, their attachments, and the per-agency per-day code counters.

`state` and `national_status_code` are plain columns: the workflow engine (app/workflow) decides transitions;
this domain only creates drafts and submits them. `version` is the optimistic-concurrency counter (SQLAlchemy
checks and bumps it on every UPDATE, so a stale writer fails instead of overwriting).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import flag_modified

from app.core import clock
from app.core.db import Base


class DossierState(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    received = "received"
    rejected = "rejected"
    processing = "processing"
    supplement_requested = "supplement_requested"
    payment_requested = "payment_requested"
    withdrawn = "withdrawn"
    stopped = "stopped"
    processed = "processed"
    returned = "returned"


# DOMAIN.md "The national status codes": every state but draft maps to exactly one.
NATIONAL_STATUS_CODES: dict[str, int] = {
    "submitted": 1, "received": 2, "rejected": 3, "processing": 4, "supplement_requested": 5,
    "payment_requested": 6, "withdrawn": 7, "stopped": 8, "processed": 9, "returned": 10,
}
RESULT_READY_STATES = frozenset({"processed", "returned"})


class Channel(enum.StrEnum):
    online = "online"
    desk = "desk"
    post = "post"


class Source(enum.StrEnum):
    online = "online"
    desk = "desk"
    post = "post"
    national_portal = "national_portal"


class DeliveryMethod(enum.StrEnum):
    online = "online"
    desk = "desk"
    post = "post"


class AttachmentKind(enum.StrEnum):
    document = "document"  # filed with the draft
    supplement = "supplement"  # filed while a supplement is requested
    result = "result"  # a result file, by an approving official


class Dossier(Base):
    """One application by one applicant for one pinned procedure version (hồ sơ)."""

    __tablename__ = "dossiers"
    __table_args__ = (
        # An official's queue: agency + state, newest submission first (keyset on submitted_at, id).
        Index("ix_dossiers_agency_state_submitted", "agency_code", "state", "submitted_at", "id"),
        Index("ix_dossiers_agency_submitted", "agency_code", "submitted_at", "id"),
        # An agency's dossiers by id: the keyset of a portal resync for one agency (`dvc portal resync --agency`).
        Index("ix_dossiers_agency_id", "agency_code", "id"),
        # An applicant's own list (drafts included), newest first.
        Index("ix_dossiers_applicant_created", "applicant_id", "created_at", "id"),
        Index("ix_dossiers_actor_created", "actor_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str | None] = mapped_column(String(100), unique=True, default=None)
    procedure_code: Mapped[str] = mapped_column(String(64))
    procedure_version: Mapped[int] = mapped_column(Integer)
    # Snapshots for public tracking (a pinned version's name never changes; the agency's rarely does).
    procedure_name: Mapped[str] = mapped_column(Text)
    agency_code: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.code"))
    agency_name: Mapped[str] = mapped_column(String(400))
    # The applicant; no account for a desk/post applicant who has none (identified by CCCD or tax code).
    applicant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    applicant_kind: Mapped[str] = mapped_column(String(16))
    applicant_name: Mapped[str | None] = mapped_column(String(400), default=None)
    applicant_citizen_id: Mapped[str | None] = mapped_column(String(12), default=None)
    applicant_tax_code: Mapped[str | None] = mapped_column(String(14), default=None)
    # Who filed it: a representative of the applicant, or the reception official for desk/post intake.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    actor_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    actor_name: Mapped[str | None] = mapped_column(String(400), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(24))
    # How the submitter logged in when filing online: the token's issuer and level of assurance (`acr`). NULL for
    # a dossier filed by an official at the desk or by post, or forwarded by a client: no applicant's login.
    # The portal's `TaiKhoanDuocXacThucVoiVNeID` is read from these (DVC_VNEID_ISSUERS, DVC_VNEID_MIN_ACR).
    submitter_issuer: Mapped[str | None] = mapped_column(String(500), default=None)
    submitter_acr: Mapped[str | None] = mapped_column(Text, default=None)
    delivery_method: Mapped[str] = mapped_column(String(16))
    delivery_address: Mapped[str | None] = mapped_column(Text, default=None)
    contact_email: Mapped[str | None] = mapped_column(String(320), default=None)
    contact_phone: Mapped[str | None] = mapped_column(String(20), default=None)
    form: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(32), default=DossierState.draft.value)
    national_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.column_now, onupdate=clock.column_now)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def result_ready(self) -> bool:
        return self.state in RESULT_READY_STATES

    def touch(self, now: datetime) -> None:
        """Mark the dossier changed, so that its next flush bumps `version` (and so its ETag) even when no column
        of its own changed (a file added or removed). Flagged, not just assigned: the same clock reading as the
        last write is no change to SQLAlchemy, and would issue no versioned UPDATE."""
        self.updated_at = now
        flag_modified(self, "updated_at")


class Attachment(Base):
    """One file of a dossier; the bytes are in the blob store under `storage_key` (content-addressed)."""

    __tablename__ = "dossier_attachments"
    __table_args__ = (Index("ix_dossier_attachments_dossier", "dossier_id", "uploaded_at", "id"),
                      # A source's reuses (SET NULL on delete finds them by it).
                      Index("ix_dossier_attachments_reused_from", "reused_from"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    part: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default=AttachmentKind.document.value)
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), index=True)
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.column_now)
    # The applicant's earlier file this one reuses (same bytes, same storage key; app.dossiers.reuse), or None for
    # an upload. Decision 766's digitised_data_reused counts submitted dossiers holding one.
    reused_from: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dossier_attachments.id", ondelete="SET NULL"), default=None)


class DossierCodeCounter(Base):
    """The last sequence number issued for one agency on one local day (see app/dossiers/codes.py)."""

    __tablename__ = "dossier_code_counters"

    agency_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)

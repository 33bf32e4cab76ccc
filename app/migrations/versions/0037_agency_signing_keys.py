"""agency_signing_keys: each agency's own document signing key (PKCS#12 re-encrypted under DVC_SECRETS_KEYS), one
row per upload; at most one in force per agency.

Revision ID: 0037
Revises: 0036
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0037"
down_revision: str | Sequence[str] | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "agency_signing_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("pkcs12", sa.Text(), nullable=True),  # a Fernet token (app.core.secrets.EncryptedText)
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("serial_number", sa.String(length=128), nullable=False),
        sa.Column("not_before", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_after", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("removed_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["agency_code"], ["agencies.code"],
                                name=op.f("fk_agency_signing_keys_agency_code_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_signing_keys")),
    )
    op.create_index("uq_agency_signing_keys_live", "agency_signing_keys", ["agency_code"], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    op.drop_index("uq_agency_signing_keys_live", table_name="agency_signing_keys")
    op.drop_table("agency_signing_keys")

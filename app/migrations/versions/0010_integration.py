"""integration: dossiers forwarded by the national portal, portal sync status, webhook subscriptions

Revision ID: 0010
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "national_dossiers",
        sa.Column("national_dossier_id", sa.String(length=100), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["accounts.id"], name=op.f("fk_national_dossiers_client_id_accounts")),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], name=op.f("fk_national_dossiers_dossier_id_dossiers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("national_dossier_id", name=op.f("pk_national_dossiers")),
        sa.UniqueConstraint("dossier_id", name=op.f("uq_national_dossiers_dossier_id")),
    )
    op.create_table(
        "dossier_sync_status",
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("last_synced_code", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("first_synced_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("synced_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"],
                                name=op.f("fk_dossier_sync_status_dossier_id_dossiers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_dossier_sync_status")),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("description", sa.String(length=400), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["accounts.id"],
                                name=op.f("fk_webhook_subscriptions_client_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_subscriptions_client", ["client_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_subscriptions_client")
    op.drop_table("webhook_subscriptions")
    op.drop_table("dossier_sync_status")
    op.drop_table("national_dossiers")

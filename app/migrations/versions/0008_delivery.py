"""outbox delivery: per-consumer offsets and delivery rows

Revision ID: 0008
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_offsets",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("last_event_id", BIG, nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_outbox_offsets")),
    )
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", BIG, nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("ordering_key", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"],
                                name=op.f("fk_outbox_deliveries_event_id_outbox_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_deliveries")),
        sa.UniqueConstraint("consumer", "event_id", "target", name=op.f("uq_outbox_deliveries_consumer_event_id_target")),
    )
    op.create_index("ix_outbox_deliveries_due", "outbox_deliveries", ["consumer", "state", "next_attempt_at"])
    op.create_index("ix_outbox_deliveries_order", "outbox_deliveries", ["consumer", "ordering_key", "event_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_deliveries_order", table_name="outbox_deliveries")
    op.drop_index("ix_outbox_deliveries_due", table_name="outbox_deliveries")
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_offsets")

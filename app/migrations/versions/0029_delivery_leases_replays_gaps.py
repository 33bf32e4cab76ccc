"""outbox deliveries: leased_until, a worker's hold while it sends (a replay no longer makes a delivery being sent
due again); replays and attempts_before_replay, a replay's fresh retry schedule. outbox_gaps: ids a consumer's
offset moved past unseen, looked for again until the transactions that could hold them have ended

The lease was kept in next_attempt_at, which could not tell "a worker is sending it" from "due again then". A
delivery a worker held at the upgrade keeps its lease's end in next_attempt_at: it is due again then, as before
(stop the workers for the upgrade: a worker of the earlier release does not know the new columns).

Revision ID: 0029
Revises: 0028
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.add_column(sa.Column("leased_until", app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("replays", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("attempts_before_replay", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))
    op.create_table(
        "outbox_gaps",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("first_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False,
                  autoincrement=False),
        sa.Column("last_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("in_flight", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("noticed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "first_event_id", name=op.f("pk_outbox_gaps")),
    )


def downgrade() -> None:
    op.drop_table("outbox_gaps")
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.drop_column("attempts_before_replay")
        batch.drop_column("replays")
        batch.drop_column("leased_until")

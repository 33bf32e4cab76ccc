"""procedure_versions: the announcement (decision number and date, the legal act's effective date), no_fee, and
published_at (when the status became published), for Decision 766's "procedures published on time and complete"

Versions recorded before this revision have no announcement and charge fees as their fee_items say (no_fee
false); when they were published was never recorded, so published_at stays NULL for them. The figure counts
only versions with an announcement, which none of them has. Downgrading drops the columns.

Revision ID: 0035
Revises: 0034
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0035"
down_revision: str | Sequence[str] | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("procedure_versions") as batch:
        batch.add_column(sa.Column("no_fee", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch.add_column(sa.Column("announcement_decision_number", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("announcement_decision_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("announcement_effective_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("published_at", app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_procedure_versions_announcement_effective_date"),
                           ["announcement_effective_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("procedure_versions") as batch:
        batch.drop_index(batch.f("ix_procedure_versions_announcement_effective_date"))
        batch.drop_column("published_at")
        batch.drop_column("announcement_effective_date")
        batch.drop_column("announcement_decision_date")
        batch.drop_column("announcement_decision_number")
        batch.drop_column("no_fee")

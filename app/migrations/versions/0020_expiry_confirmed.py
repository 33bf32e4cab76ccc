"""payment attempts: whether the provider confirmed that an expired attempt moved no money

Revision ID: 0020
Revises: 0019
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Attempts expired before this revision count as unconfirmed: reconciliation asks about those of the last day.
    with op.batch_alter_table("payment_attempts") as batch:
        batch.add_column(sa.Column("expiry_confirmed", sa.Boolean(), server_default=sa.text("false"),
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_column("expiry_confirmed")

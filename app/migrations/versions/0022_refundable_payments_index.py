"""payment list index: succeeded payments still holding money, finance's refund_due queue

Revision ID: 0022
Revises: 0021
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLDING = "state = 'succeeded' AND refunded < amount"


def upgrade() -> None:
    op.create_index("ix_payment_attempts_holding", "payment_attempts", ["created_at", "id"],
                    sqlite_where=sa.text(_HOLDING), postgresql_where=sa.text(_HOLDING))


def downgrade() -> None:
    op.drop_index("ix_payment_attempts_holding", table_name="payment_attempts")

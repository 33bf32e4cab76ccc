"""payment list indexes: newest first, and the flagged payments finance works from

Revision ID: 0017
Revises: 0016
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payment_attempts_created", "payment_attempts", ["created_at", "id"])
    op.create_index("ix_payment_attempts_flagged", "payment_attempts", ["created_at", "id"],
                    sqlite_where=sa.text("flag IS NOT NULL"), postgresql_where=sa.text("flag IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_payment_attempts_flagged", table_name="payment_attempts")
    op.drop_index("ix_payment_attempts_created", table_name="payment_attempts")

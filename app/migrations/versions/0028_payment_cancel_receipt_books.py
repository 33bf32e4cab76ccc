"""payment attempts: cancelled_by and cancel_reason, a live online payment finance gave up (POST
/v1/payments/{id}/cancel)

Revision ID: 0028
Revises: 0027
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_attempts") as batch:
        batch.add_column(sa.Column("cancelled_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(op.f("fk_payment_attempts_cancelled_by_accounts"), "accounts", ["cancelled_by"],
                                 ["id"])


def downgrade() -> None:
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_constraint(op.f("fk_payment_attempts_cancelled_by_accounts"), type_="foreignkey")
        batch.drop_column("cancel_reason")
        batch.drop_column("cancelled_by")

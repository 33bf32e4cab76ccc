"""refund resolution: the finance official who recorded a refund's outcome the provider never gave, and the note

Revision ID: 0018
Revises: 0017
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_refunds") as batch:
        batch.add_column(sa.Column("resolved_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))
        batch.create_foreign_key(op.f("fk_payment_refunds_resolved_by_accounts"), "accounts", ["resolved_by"],
                                 ["id"])


def downgrade() -> None:
    with op.batch_alter_table("payment_refunds") as batch:
        batch.drop_constraint(op.f("fk_payment_refunds_resolved_by_accounts"), type_="foreignkey")
        batch.drop_column("resolution_note")
        batch.drop_column("resolved_by")

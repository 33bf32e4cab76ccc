"""payment surpluses: money a provider reported that was not credited (another amount, a second transaction),
one row per (attempt, provider transaction), and the refunds that give it back

Revision ID: 0016
Revises: 0015
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_surpluses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("attempt_id", sa.Uuid(), nullable=False),
        sa.Column("provider_txn_id", sa.String(length=100), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_surpluses_amount_positive")),
        sa.CheckConstraint("refunded >= 0 AND refunded <= amount",
                           name=op.f("ck_payment_surpluses_refunded_within_amount")),
        sa.CheckConstraint("reason IN ('amount_mismatch', 'second_transaction')",
                           name=op.f("ck_payment_surpluses_reason_known")),
        sa.ForeignKeyConstraint(["attempt_id"], ["payment_attempts.id"],
                                name=op.f("fk_payment_surpluses_attempt_id_payment_attempts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_surpluses")),
    )
    op.create_index("uq_payment_surpluses_attempt_txn", "payment_surpluses", ["attempt_id", "provider_txn_id"],
                    unique=True)
    with op.batch_alter_table("payment_refunds") as batch:
        batch.add_column(sa.Column("surplus_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f("fk_payment_refunds_surplus_id_payment_surpluses"), "payment_surpluses",
                                 ["surplus_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("payment_refunds") as batch:
        batch.drop_constraint(op.f("fk_payment_refunds_surplus_id_payment_surpluses"), type_="foreignkey")
        batch.drop_column("surplus_id")
    op.drop_index("uq_payment_surpluses_attempt_txn", table_name="payment_surpluses")
    op.drop_table("payment_surpluses")

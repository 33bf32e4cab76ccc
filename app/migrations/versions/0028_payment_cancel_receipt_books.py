"""payment attempts: cancelled_by and cancel_reason, a live online payment finance gave up (POST
/v1/payments/{id}/cancel); agency_code, desk receipt numbers unique per agency

Paper receipt books are per agency, so two agencies may hold the same number; a unique receipt number across all
agencies refused the second (409). Each attempt now records its dossier's agency (backfilled from the dossier),
and the receipt number is unique per agency; the numbers the service issues to online payments (BL-...) stay
unique across all agencies. A desk payment's transaction id is its receipt number, so that index leaves desk
payments out as well (the receipt's own index covers them).

Downgrading brings back one number per receipt across all agencies: a database in which two agencies hold the same
number is not changed, the downgrade stops and names them.

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

_ONLINE = "provider <> 'counter'"


def upgrade() -> None:
    with op.batch_alter_table("payment_attempts") as batch:
        batch.add_column(sa.Column("cancelled_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("agency_code", sa.String(length=64), nullable=True))
    # Every attempt has its dossier (a foreign key, cascading): its agency is the one whose book the number is from.
    op.execute("UPDATE payment_attempts SET agency_code = "
               "(SELECT d.agency_code FROM dossiers d WHERE d.id = payment_attempts.dossier_id)")
    with op.batch_alter_table("payment_attempts") as batch:
        batch.alter_column("agency_code", existing_type=sa.String(length=64), nullable=False)
        batch.create_foreign_key(op.f("fk_payment_attempts_cancelled_by_accounts"), "accounts", ["cancelled_by"],
                                 ["id"])
        batch.create_foreign_key(op.f("fk_payment_attempts_agency_code_agencies"), "agencies", ["agency_code"],
                                 ["code"])
        batch.drop_constraint("uq_payment_attempts_receipt_number", type_="unique")
        batch.drop_index("uq_payment_attempts_provider_txn")
    op.create_index("uq_payment_attempts_provider_txn", "payment_attempts", ["provider", "provider_txn_id"],
                    unique=True, sqlite_where=sa.text(_ONLINE), postgresql_where=sa.text(_ONLINE))
    op.create_index("uq_payment_attempts_agency_receipt", "payment_attempts", ["agency_code", "receipt_number"],
                    unique=True)
    op.create_index("uq_payment_attempts_issued_receipt", "payment_attempts", ["receipt_number"], unique=True,
                    sqlite_where=sa.text(_ONLINE), postgresql_where=sa.text(_ONLINE))


def downgrade() -> None:
    shared = op.get_bind().execute(sa.text(
        "SELECT receipt_number, count(*) FROM payment_attempts WHERE receipt_number IS NOT NULL"
        " GROUP BY receipt_number HAVING count(*) > 1 ORDER BY receipt_number")).all()
    if shared:
        listed = ", ".join(f"{number} ({count} agencies)" for number, count in shared)
        raise RuntimeError(f"Receipt numbers held by more than one agency: {listed}. Receipt numbers were unique "
                           "across all agencies before revision 0028; no receipt is renumbered automatically.")
    op.drop_index("uq_payment_attempts_issued_receipt", table_name="payment_attempts")
    op.drop_index("uq_payment_attempts_agency_receipt", table_name="payment_attempts")
    op.drop_index("uq_payment_attempts_provider_txn", table_name="payment_attempts")
    with op.batch_alter_table("payment_attempts") as batch:
        batch.create_index("uq_payment_attempts_provider_txn", ["provider", "provider_txn_id"], unique=True)
        batch.create_unique_constraint("uq_payment_attempts_receipt_number", ["receipt_number"])
        batch.drop_constraint(op.f("fk_payment_attempts_agency_code_agencies"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_payment_attempts_cancelled_by_accounts"), type_="foreignkey")
        batch.drop_column("agency_code")
        batch.drop_column("cancel_reason")
        batch.drop_column("cancelled_by")

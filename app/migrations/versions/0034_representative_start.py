"""representatives: valid_from, the start of a mandate's term (a paper authorisation may take effect on a later day),
and a check that a term starts before it ends

Mandates recorded before this revision have no start (valid_from NULL: in force from when they were given), as they
had; their ETags stay. Downgrading drops the start of every mandate: one that has not begun yet lets its citizen act
for the organisation at once, so withdraw those first if that matters.

Revision ID: 0034
Revises: 0033
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0034"
down_revision: str | Sequence[str] | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.add_column(sa.Column("valid_from", app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.create_check_constraint(op.f("ck_representatives_term_starts_before_it_ends"),
                                      "valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until")


def downgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.drop_constraint(op.f("ck_representatives_term_starts_before_it_ends"), type_="check")
        batch.drop_column("valid_from")

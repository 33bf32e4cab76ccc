"""officials, clients, agencies and procedure versions: optimistic-concurrency counters behind their ETags

Revision ID: 0021
Revises: 0020
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): procedure_versions.version is the procedure's version number, so its counter is `revision`.
_COUNTERS = (("accounts", "version"), ("agencies", "version"), ("procedure_versions", "revision"))


def upgrade() -> None:
    # Existing rows start at 1, as new ones do (their first ETag is "1").
    for table, column in _COUNTERS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    for table, column in reversed(_COUNTERS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)

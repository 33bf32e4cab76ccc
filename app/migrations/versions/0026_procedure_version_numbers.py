"""procedures.last_version_number: version numbers are never reused, now that a draft can be deleted

A deleted draft's number given again would let its old ETag (a revision, counted from 1) match the new draft at
the same URL. The counter starts at the highest number each procedure holds.

Revision ID: 0026
Revises: 0025
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.add_column(sa.Column("last_version_number", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.execute("UPDATE procedures SET last_version_number = COALESCE((SELECT max(v.version) FROM procedure_versions v"
               " WHERE v.procedure_code = procedures.code), 0)")


def downgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.drop_column("last_version_number")

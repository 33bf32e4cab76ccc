"""representatives: valid_until, the end of a mandate's term (a paper authorisation has one), and the version
counter behind the ETag its organisation changes it with

Mandates recorded before this revision have no term (valid_until NULL: in force until withdrawn), as they had; their
first ETag is "1", as a new mandate's. Downgrading drops the term of every mandate: one that had expired lets its
citizen act for the organisation again, so withdraw those first if that matters.

Revision ID: 0030
Revises: 0029
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.add_column(sa.Column("valid_until", app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.drop_column("version")
        batch.drop_column("valid_until")

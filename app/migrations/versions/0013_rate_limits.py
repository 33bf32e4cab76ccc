"""rate-limit counts shared by every worker and replica

Revision ID: 0013
Revises: 0012
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("window", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window", name=op.f("pk_rate_limit_windows")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Counts a crash may lose: no WAL for a write on every public request.
        op.execute("ALTER TABLE rate_limit_windows SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("rate_limit_windows")

"""end-of-day open dossier counts, so reports on past periods count the dossiers open when the period ended

Revision ID: 0015
Revises: 0014
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reporting_open_captures",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("captured_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_reporting_open_captures")),
    )
    op.create_table(
        "reporting_open_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("received_month", sa.String(length=7), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["day"], ["reporting_open_captures.day"],
                                name=op.f("fk_reporting_open_counts_day_reporting_open_captures"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("day", "agency_code", "procedure_code", "received_month",
                                name=op.f("pk_reporting_open_counts")),
    )


def downgrade() -> None:
    op.drop_table("reporting_open_counts")
    op.drop_table("reporting_open_captures")

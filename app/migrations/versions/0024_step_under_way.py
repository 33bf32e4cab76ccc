"""the step under way on dossier_progress: its name and its own deadline, kept after every transition so the
public late list can name who holds an overdue dossier and whether that step overran (in SQL)

Dossiers in flight keep NULL until their next transition: the steps list works the step out when it reads
them, and the late list counts their holder as it did before (the assignee, step `in_progress`).

Revision ID: 0024
Revises: 0022
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dossier_progress") as batch:
        batch.add_column(sa.Column("step_under_way", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("step_due_at", app.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dossier_progress") as batch:
        batch.drop_column("step_due_at")
        batch.drop_column("step_under_way")

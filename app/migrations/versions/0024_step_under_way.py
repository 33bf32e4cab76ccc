"""the step under way on dossier_progress: its name and its own deadline, kept after every transition so the
public late list can name who holds an overdue dossier and whether that step overran (in SQL); and when a
dossier fell behind its original due date, kept across a later supplement wait (the list measures a past
period at its end)

Dossiers in flight keep NULL until their next transition: the steps list works the step out when it reads
them, and the late list counts their holder as it did before (the assignee, step `in_progress`). A dossier
waiting on a supplement requested after its original due date gets `late_since` here; one whose late wait is
over already cannot (the history alone says when it was), and a past period is judged by its due date now.

Revision ID: 0024
Revises: 0023
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dossier_progress") as batch:
        batch.add_column(sa.Column("step_under_way", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("step_due_at", app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("late_since", app.core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE dossier_progress SET late_since = original_due_at "
               "WHERE paused_at IS NOT NULL AND original_due_at IS NOT NULL AND original_due_at < paused_at")


def downgrade() -> None:
    with op.batch_alter_table("dossier_progress") as batch:
        batch.drop_column("late_since")
        batch.drop_column("step_due_at")
        batch.drop_column("step_under_way")

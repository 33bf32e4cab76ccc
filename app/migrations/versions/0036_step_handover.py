"""dossier_steps.handed_over_at and dossier_progress.step_handed_over_at: when a step's holder really got the
dossier (form 05's time of hand-over), beside the counted start that supplement waits move.

Steps recorded before this revision keep NULL (their real hand-over was not kept; the slip prints their counted
start, as before). The step under way of an open dossier takes its counted start, the best value known.

Revision ID: 0036
Revises: 0035
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0036"
down_revision: str | Sequence[str] | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dossier_steps") as batch:
        batch.add_column(sa.Column("handed_over_at", app.core.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("dossier_progress") as batch:
        batch.add_column(sa.Column("step_handed_over_at", app.core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE dossier_progress SET step_handed_over_at = step_started_at")


def downgrade() -> None:
    with op.batch_alter_table("dossier_progress") as batch:
        batch.drop_column("step_handed_over_at")
    with op.batch_alter_table("dossier_steps") as batch:
        batch.drop_column("handed_over_at")

"""complaints: complaints and feedback about a dossier (phản ánh, kiến nghị), answered by the agency and rated once
by the applicant. reporting_counters: complaints_due, complaints_answered_on_time, complaint_ratings,
complaint_ratings_satisfied, dossiers_with_complaints (Decision 766's satisfaction group).

No complaint was recorded before this revision: the new counters start at 0. Downgrading drops the complaints, their
counters and the once-per-dossier marks counted for them.

Revision ID: 0032
Revises: 0031
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0032"
down_revision: str | Sequence[str] | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("complaints_due", "complaints_answered_on_time", "complaint_ratings", "complaint_ratings_satisfied",
            "dossiers_with_complaints")


def upgrade() -> None:
    moment = app.core.db.UTCDateTime(timezone=True)
    op.create_table(
        "complaints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.Uuid(), nullable=False),
        sa.Column("filed_at", moment, nullable=False),
        sa.Column("due_at", moment, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("answered_at", moment, nullable=True),
        sa.Column("satisfied", sa.Boolean(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_by", sa.Uuid(), nullable=True),
        sa.Column("rated_at", moment, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["answered_by"], ["accounts.id"], name=op.f("fk_complaints_answered_by_accounts")),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], name=op.f("fk_complaints_dossier_id_dossiers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["filed_by"], ["accounts.id"], name=op.f("fk_complaints_filed_by_accounts")),
        sa.ForeignKeyConstraint(["rated_by"], ["accounts.id"], name=op.f("fk_complaints_rated_by_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    op.create_index("ix_complaints_agency_state_filed", "complaints", ["agency_code", "state", "filed_at", "id"])
    op.create_index("ix_complaints_dossier_filed", "complaints", ["dossier_id", "filed_at", "id"])
    with op.batch_alter_table("reporting_counters") as batch:
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("reporting_counters") as batch:
        for name in reversed(COUNTERS):
            batch.drop_column(name)
    op.execute("DELETE FROM reporting_dossier_marks WHERE mark = 'dossiers_with_complaints'")
    op.drop_index("ix_complaints_dossier_filed", table_name="complaints")
    op.drop_index("ix_complaints_agency_state_filed", table_name="complaints")
    op.drop_table("complaints")

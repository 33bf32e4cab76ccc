"""dossier_attachments: reused_from, the applicant's earlier file an attachment reuses (same storage key, no copy of
the bytes); reporting_counters: digitised_reused, dossiers submitted holding such a file (Decision 766's
digitised_data_reused).

Attachments stored before this revision are uploads (reused_from NULL); days counted before it count no reuse.
Downgrading forgets where reused files came from (the files and their rows stay) and the reuse counts.

Revision ID: 0033
Revises: 0032
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | Sequence[str] | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dossier_attachments") as batch:
        batch.add_column(sa.Column("reused_from", sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f("fk_dossier_attachments_reused_from_dossier_attachments"),
                                 "dossier_attachments", ["reused_from"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_dossier_attachments_reused_from", ["reused_from"], unique=False)
    with op.batch_alter_table("reporting_counters") as batch:
        batch.add_column(sa.Column("digitised_reused", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("reporting_counters") as batch:
        batch.drop_column("digitised_reused")
    with op.batch_alter_table("dossier_attachments") as batch:
        batch.drop_index("ix_dossier_attachments_reused_from")
        batch.drop_constraint(op.f("fk_dossier_attachments_reused_from_dossier_attachments"), type_="foreignkey")
        batch.drop_column("reused_from")

"""notification_messages: account_id, for messages about an account rather than a dossier (a representative's
mandate given, changed or withdrawn; a mandate's term about to end), dossier_id nullable, one of the two set.
representatives: expiry_notice_for, the term end the organisation was last reminded of (one reminder per term)

Messages recorded before this revision all concern a dossier (account_id NULL). Mandates recorded before it have
never been reminded: one whose term ends within DVC_MANDATE_EXPIRY_NOTICE_DAYS gets its reminder on the worker's
first pass. Downgrading deletes the account messages (their log, not anything sent) and forgets the reminders.

Revision ID: 0031
Revises: 0030
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification_messages") as batch:
        batch.add_column(sa.Column("account_id", sa.Uuid(), nullable=True))
        batch.alter_column("dossier_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_foreign_key(op.f("fk_notification_messages_account_id_accounts"), "accounts", ["account_id"],
                                 ["id"], ondelete="CASCADE")
        batch.create_check_constraint(op.f("ck_notification_messages_about_dossier_or_account"),
                                      "dossier_id IS NOT NULL OR account_id IS NOT NULL")
        batch.create_index("ix_notification_messages_account", ["account_id", "id"], unique=False)
    with op.batch_alter_table("representatives") as batch:
        batch.add_column(sa.Column("expiry_notice_for", app.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.drop_column("expiry_notice_for")
    op.execute("DELETE FROM notification_messages WHERE dossier_id IS NULL")
    with op.batch_alter_table("notification_messages") as batch:
        batch.drop_index("ix_notification_messages_account")
        batch.drop_constraint(op.f("ck_notification_messages_about_dossier_or_account"), type_="check")
        batch.drop_constraint(op.f("fk_notification_messages_account_id_accounts"), type_="foreignkey")
        batch.alter_column("dossier_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("account_id")

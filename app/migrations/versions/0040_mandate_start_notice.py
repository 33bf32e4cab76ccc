"""representatives.start_notice_for: the term start the citizen and the organisation were told of when it came
(`representative.started` / `.effective`, once per start).

Mandates whose start has already passed are marked as told at upgrade: they began before this revision, and a notice
about a start long gone would only confuse. Mandates starting later are told of when their start comes.

Revision ID: 0040
Revises: 0038
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0040"
down_revision: str | Sequence[str] | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.add_column(sa.Column("start_notice_for", app.core.db.UTCDateTime(timezone=True), nullable=True))
    representatives = sa.table("representatives", sa.column("valid_from", app.core.db.UTCDateTime(timezone=True)),
                               sa.column("start_notice_for", app.core.db.UTCDateTime(timezone=True)))
    c = representatives.c
    op.execute(sa.update(representatives)
               .where(c.valid_from.is_not(None), c.valid_from <= sa.bindparam("now", datetime.now(UTC),
                                                                            type_=app.core.db.UTCDateTime()))
               .values(start_notice_for=c.valid_from))


def downgrade() -> None:
    with op.batch_alter_table("representatives") as batch:
        batch.drop_column("start_notice_for")

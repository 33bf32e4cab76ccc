"""calendar

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 16:43:17.636715
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('calendar_overrides',
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=400), nullable=False),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('date', name=op.f('pk_calendar_overrides'))
    )


def downgrade() -> None:
    op.drop_table('calendar_overrides')

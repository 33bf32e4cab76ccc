"""reporting: per-day indicator counters, once-per-dossier marks, monthly snapshots, ratings

Also two indexes on dossiers for the reports: open dossiers by (state, agency) and dossiers by finish time.

Revision ID: 0009
Revises: 0006, 0007
Create Date: 2026-11-23 17:15:19.966345
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.core.db
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | Sequence[str] | None = ('0006', '0007')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reporting_counters',
    sa.Column('agency_code', sa.String(length=64), nullable=False),
    sa.Column('procedure_code', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('submitted', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('submitted_online', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('submitted_desk', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('submitted_post', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('digitised', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('received', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rejected', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('withdrawn', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('supplement_requests', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('finished', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('finished_late', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('finished_multi_supplement', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('finished_late_apologised', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('processing_seconds', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('results_issued', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('electronic_results', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('fee_bearing', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('paid_online', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('synced', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rating_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rating_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rating_satisfied', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('agency_code', 'procedure_code', 'day', name=op.f('pk_reporting_counters'))
    )
    with op.batch_alter_table('reporting_counters', schema=None) as batch_op:
        batch_op.create_index('ix_reporting_counters_day', ['day', 'agency_code'], unique=False)

    op.create_table('reporting_dossier_marks',
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('mark', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('dossier_id', 'mark', name=op.f('pk_reporting_dossier_marks'))
    )
    op.create_table('reporting_indicator_snapshots',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.PrimaryKeyConstraint('period', name=op.f('pk_reporting_indicator_snapshots'))
    )
    op.create_table('dossier_ratings',
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('rated_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_dossier_ratings_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_dossier_ratings'))
    )
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.create_index('ix_dossiers_reporting_finished', ['finished_at'], unique=False)
        batch_op.create_index('ix_dossiers_reporting_open', ['state', 'agency_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index('ix_dossiers_reporting_open')
        batch_op.drop_index('ix_dossiers_reporting_finished')

    op.drop_table('dossier_ratings')
    op.drop_table('reporting_indicator_snapshots')
    op.drop_table('reporting_dossier_marks')
    with op.batch_alter_table('reporting_counters', schema=None) as batch_op:
        batch_op.drop_index('ix_reporting_counters_day')

    op.drop_table('reporting_counters')

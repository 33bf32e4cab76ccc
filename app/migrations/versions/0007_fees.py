"""fees: obligations and their lines, payment attempts, refunds, provider callbacks

CHECK constraints keep paid <= due and refunded <= paid per obligation (and refunded <= amount per attempt);
a partial unique index allows one live attempt (created/started/submitted) per obligation.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23 17:06:40.623757
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.core.db
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payment_callbacks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('provider_ref', sa.String(length=100), nullable=True),
    sa.Column('provider_txn_id', sa.String(length=100), nullable=True),
    sa.Column('attempt_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('received_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_callbacks'))
    )
    with op.batch_alter_table('payment_callbacks', schema=None) as batch_op:
        batch_op.create_index('ix_payment_callbacks_provider_txn', ['provider', 'provider_txn_id'], unique=False)

    op.create_table('fee_obligations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('stage', sa.String(length=24), nullable=False),
    sa.Column('due', sa.BigInteger(), nullable=False),
    sa.Column('paid', sa.BigInteger(), nullable=False),
    sa.Column('refunded', sa.BigInteger(), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('due >= 0', name=op.f('ck_fee_obligations_due_non_negative')),
    sa.CheckConstraint('paid <= due', name=op.f('ck_fee_obligations_paid_at_most_due')),
    sa.CheckConstraint('paid >= 0', name=op.f('ck_fee_obligations_paid_non_negative')),
    sa.CheckConstraint('refunded <= paid', name=op.f('ck_fee_obligations_refunded_at_most_paid')),
    sa.CheckConstraint('refunded >= 0', name=op.f('ck_fee_obligations_refunded_non_negative')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_fee_obligations_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by'], ['accounts.id'], name=op.f('fk_fee_obligations_requested_by_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_obligations'))
    )
    with op.batch_alter_table('fee_obligations', schema=None) as batch_op:
        batch_op.create_index('uq_fee_obligations_dossier_stage', ['dossier_id', 'stage'], unique=True)

    op.create_table('fee_lines',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('obligation_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('item_index', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('exempt', sa.Boolean(), nullable=False),
    sa.Column('exemption_reason', sa.Text(), nullable=True),
    sa.Column('exempted_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_fee_lines_amount_non_negative')),
    sa.ForeignKeyConstraint(['exempted_by'], ['accounts.id'], name=op.f('fk_fee_lines_exempted_by_accounts')),
    sa.ForeignKeyConstraint(['obligation_id'], ['fee_obligations.id'], name=op.f('fk_fee_lines_obligation_id_fee_obligations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_lines'))
    )
    with op.batch_alter_table('fee_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fee_lines_obligation_id'), ['obligation_id'], unique=False)

    op.create_table('payment_attempts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('obligation_id', sa.Uuid(), nullable=False),
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('provider_ref', sa.String(length=100), nullable=False),
    sa.Column('provider_txn_id', sa.String(length=100), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('credited', sa.Boolean(), nullable=False),
    sa.Column('refunded', sa.BigInteger(), nullable=False),
    sa.Column('flag', sa.String(length=32), nullable=True),
    sa.Column('reported_amount', sa.BigInteger(), nullable=True),
    sa.Column('next_url', sa.Text(), nullable=True),
    sa.Column('return_url', sa.Text(), nullable=True),
    sa.Column('payer_id', sa.Uuid(), nullable=True),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.Column('receipt_number', sa.String(length=64), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_attempts_amount_positive')),
    sa.CheckConstraint('refunded >= 0 AND refunded <= amount', name=op.f('ck_payment_attempts_refunded_within_amount')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_payment_attempts_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['obligation_id'], ['fee_obligations.id'], name=op.f('fk_payment_attempts_obligation_id_fee_obligations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['payer_id'], ['accounts.id'], name=op.f('fk_payment_attempts_payer_id_accounts')),
    sa.ForeignKeyConstraint(['recorded_by'], ['accounts.id'], name=op.f('fk_payment_attempts_recorded_by_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_attempts')),
    sa.UniqueConstraint('receipt_number', name=op.f('uq_payment_attempts_receipt_number'))
    )
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_payment_attempts_dossier', ['dossier_id', 'created_at'], unique=False)
        batch_op.create_index('ix_payment_attempts_state_updated', ['state', 'updated_at'], unique=False)
        batch_op.create_index('uq_payment_attempts_live', ['obligation_id'], unique=True, sqlite_where=sa.text("state IN ('created', 'started', 'submitted')"), postgresql_where=sa.text("state IN ('created', 'started', 'submitted')"))
        batch_op.create_index('uq_payment_attempts_provider_ref', ['provider', 'provider_ref'], unique=True)
        batch_op.create_index('uq_payment_attempts_provider_txn', ['provider', 'provider_txn_id'], unique=True)

    op.create_table('payment_refunds',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('attempt_id', sa.Uuid(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('provider_refund_id', sa.String(length=100), nullable=True),
    sa.Column('requested_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['attempt_id'], ['payment_attempts.id'], name=op.f('fk_payment_refunds_attempt_id_payment_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by'], ['accounts.id'], name=op.f('fk_payment_refunds_requested_by_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_refunds'))
    )
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_payment_refunds_attempt', ['attempt_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_refunds_attempt')

    op.drop_table('payment_refunds')
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.drop_index('uq_payment_attempts_provider_txn')
        batch_op.drop_index('uq_payment_attempts_provider_ref')
        batch_op.drop_index('uq_payment_attempts_live', sqlite_where=sa.text("state IN ('created', 'started', 'submitted')"), postgresql_where=sa.text("state IN ('created', 'started', 'submitted')"))
        batch_op.drop_index('ix_payment_attempts_state_updated')
        batch_op.drop_index('ix_payment_attempts_dossier')

    op.drop_table('payment_attempts')
    with op.batch_alter_table('fee_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fee_lines_obligation_id'))

    op.drop_table('fee_lines')
    with op.batch_alter_table('fee_obligations', schema=None) as batch_op:
        batch_op.drop_index('uq_fee_obligations_dossier_stage')

    op.drop_table('fee_obligations')
    with op.batch_alter_table('payment_callbacks', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_callbacks_provider_txn')

    op.drop_table('payment_callbacks')

"""notifications: applicants' channel preferences and the log of messages (one per event and channel)

Revision ID: 0011
Revises: 0006
Create Date: 2026-11-23 17:14:33.762724
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification_preferences',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.Boolean(), nullable=False),
    sa.Column('sms', sa.Boolean(), nullable=False),
    sa.Column('zalo', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                            name=op.f('fk_notification_preferences_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_notification_preferences'))
    )
    op.create_table('notification_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('notice_id', sa.Uuid(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_notification_messages_dossier_id_dossiers'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_events.id'],
                            name=op.f('fk_notification_messages_event_id_outbox_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_messages')),
    sa.UniqueConstraint('event_id', 'channel', name=op.f('uq_notification_messages_event_id_channel'))
    )
    with op.batch_alter_table('notification_messages', schema=None) as batch_op:
        batch_op.create_index('ix_notification_messages_dossier', ['dossier_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_messages_dossier')
    op.drop_table('notification_messages')
    op.drop_table('notification_preferences')

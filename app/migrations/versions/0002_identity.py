"""identity

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:45:08.315728
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.core.db
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_audit'))
    )

    with op.batch_alter_table('account_audit', schema=None) as batch_op:
        batch_op.create_index('ix_account_audit_account', ['account_id', 'id'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('citizen', 'organisation', 'official', 'client', name='accountkind', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('active', 'suspended', name='accountstatus', native_enum=False, length=16), nullable=False),
    sa.Column('citizen_id', sa.String(length=12), nullable=True),
    sa.Column('tax_code', sa.String(length=14), nullable=True),
    sa.Column('client_id', sa.String(length=200), nullable=True),
    sa.Column('name', sa.String(length=400), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('agency_code', sa.String(length=64), nullable=True),
    sa.Column('roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('agency_codes', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'citizen') = (citizen_id IS NOT NULL)", name=op.f('ck_accounts_citizen_id_iff_citizen')),
    sa.CheckConstraint("(kind = 'client') = (client_id IS NOT NULL)", name=op.f('ck_accounts_client_id_iff_client')),
    sa.CheckConstraint("(kind = 'organisation') = (tax_code IS NOT NULL)", name=op.f('ck_accounts_tax_code_iff_organisation')),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_accounts_agency_code_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('citizen_id', name=op.f('uq_accounts_citizen_id')),
    sa.UniqueConstraint('client_id', name=op.f('uq_accounts_client_id')),
    sa.UniqueConstraint('tax_code', name=op.f('uq_accounts_tax_code'))
    )

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_agency_code'), ['agency_code'], unique=False)

    op.create_table('identities',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_identities_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_identities_issuer_subject'))
    )

    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_account_id'), ['account_id'], unique=False)

    op.create_table('representatives',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('citizen_account_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_account_id'], ['accounts.id'], name=op.f('fk_representatives_citizen_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['accounts.id'], name=op.f('fk_representatives_organisation_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_representatives')),
    sa.UniqueConstraint('organisation_id', 'citizen_account_id', name=op.f('uq_representatives_organisation_id_citizen_account_id'))
    )

    with op.batch_alter_table('representatives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_representatives_citizen_account_id'), ['citizen_account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('representatives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_representatives_citizen_account_id'))

    op.drop_table('representatives')

    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_account_id'))

    op.drop_table('identities')

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_agency_code'))

    op.drop_table('accounts')

    with op.batch_alter_table('account_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_account_audit_account')

    op.drop_table('account_audit')

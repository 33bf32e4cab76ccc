"""catalogue: fields, procedures, procedure versions (agencies already exist since 0001)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 16:45:53.712925
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.core.db
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigram_available() -> bool:
    """pg_trgm backs the search index; without it (no package, no privilege) a btree index stands in."""
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first():
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return False
    return True


def upgrade() -> None:
    op.create_table('procedures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedures')),
    sa.UniqueConstraint('code', name=op.f('uq_procedures_code'))
    )
    op.create_table('catalogue_fields',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('agency_code', sa.String(length=64), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_catalogue_fields_agency_code_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_fields')),
    sa.UniqueConstraint('code', name=op.f('uq_catalogue_fields_code'))
    )
    op.create_table('procedure_versions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('procedure_code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'retired', name='versionstatus', native_enum=False, length=16), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('agency_code', sa.String(length=64), nullable=False),
    sa.Column('field_code', sa.String(length=64), nullable=False),
    sa.Column('online_level', sa.Enum('full', 'partial', 'direct', name='onlinelevel', native_enum=False, length=16), nullable=False),
    sa.Column('applicant_kinds', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('processing_days', sa.Integer(), nullable=False),
    sa.Column('clock_on_supplement', sa.String(length=16), nullable=False),
    sa.Column('document_parts', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('fee_items', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('form_schema', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('workflow', sa.String(length=64), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=True),
    sa.Column('step_time_limits', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('sample', sa.Boolean(), nullable=False),
    sa.Column('valid_from', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_to', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('search_name', sa.Text(), nullable=False),
    sa.Column('search_extra', sa.Text(), nullable=False),
    sa.Column('facets', sa.String(length=200), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_procedure_versions_agency_code_agencies')),
    sa.ForeignKeyConstraint(['field_code'], ['catalogue_fields.code'], name=op.f('fk_procedure_versions_field_code_catalogue_fields')),
    sa.ForeignKeyConstraint(['procedure_code'], ['procedures.code'], name=op.f('fk_procedure_versions_procedure_code_procedures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedure_versions')),
    sa.UniqueConstraint('procedure_code', 'version', name=op.f('uq_procedure_versions_procedure_code_version'))
    )
    with op.batch_alter_table('procedure_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedure_versions_agency_code'), ['agency_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_procedure_versions_field_code'), ['field_code'], unique=False)
        batch_op.create_index('ix_procedure_versions_live', ['status', 'valid_from', 'procedure_code'], unique=False)
        batch_op.create_index('uq_procedure_versions_one_published', ['procedure_code'], unique=True, sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))
    trigram = op.get_bind().dialect.name == "postgresql" and _trigram_available()
    for column in ('search_name', 'search_extra'):
        if trigram:
            op.create_index(f'ix_procedure_versions_{column}', 'procedure_versions', [column], unique=False, postgresql_using='gin', postgresql_ops={column: 'gin_trgm_ops'})
        else:
            op.create_index(f'ix_procedure_versions_{column}', 'procedure_versions', [column], unique=False)


def downgrade() -> None:
    op.drop_index('ix_procedure_versions_search_extra', table_name='procedure_versions')
    op.drop_index('ix_procedure_versions_search_name', table_name='procedure_versions')
    with op.batch_alter_table('procedure_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_procedure_versions_one_published', sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))
        batch_op.drop_index('ix_procedure_versions_live')
        batch_op.drop_index(batch_op.f('ix_procedure_versions_field_code'))
        batch_op.drop_index(batch_op.f('ix_procedure_versions_agency_code'))
    op.drop_table('procedure_versions')
    op.drop_table('catalogue_fields')
    op.drop_table('procedures')

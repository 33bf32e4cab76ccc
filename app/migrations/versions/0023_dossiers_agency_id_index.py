"""dossier index: an agency's dossiers by id, the keyset of the portal resync limited to one agency

Revision ID: 0023
Revises: 0022
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_dossiers_agency_id", "dossiers", ["agency_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_dossiers_agency_id", table_name="dossiers")

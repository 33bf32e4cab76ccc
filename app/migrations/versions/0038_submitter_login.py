"""dossiers.submitter_issuer and dossiers.submitter_acr: how the applicant's login was authenticated when the
dossier was filed online (the token's issuer and level of assurance), for the national portal's
`TaiKhoanDuocXacThucVoiVNeID`.

Dossiers filed before this revision keep NULL: how their submitter logged in was not kept (the portal is told "0").

Revision ID: 0038
Revises: 0037
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | Sequence[str] | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(sa.Column("submitter_issuer", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("submitter_acr", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.drop_column("submitter_acr")
        batch.drop_column("submitter_issuer")

"""merge the domain branches into one head

Revision ID: 0012
Revises: 0008, 0009, 0010, 0011
"""
from collections.abc import Sequence

revision: str = "0012"
down_revision: str | Sequence[str] | None = ("0008", "0009", "0010", "0011")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

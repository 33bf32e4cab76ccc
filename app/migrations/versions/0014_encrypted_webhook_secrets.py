"""webhook signing secrets stored encrypted (Fernet under DVC_SECRETS_KEYS)

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core import secrets

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIPTIONS = sa.table("webhook_subscriptions", sa.column("id", sa.Uuid()), sa.column("secret", sa.Text()))


def _rewrite(transform: object) -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.secret)).all():
        new = transform(row.secret)  # type: ignore[operator]
        if new != row.secret:
            connection.execute(sa.update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == row.id).values(secret=new))


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False)
    # Secrets written in clear before this revision: encrypt them under the first of DVC_SECRETS_KEYS.
    _rewrite(lambda value: value if value.startswith(secrets.FERNET_PREFIX) else secrets.encrypt(value))


def downgrade() -> None:
    _rewrite(lambda value: secrets.decrypt(value) if value.startswith(secrets.FERNET_PREFIX) else value)
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False)

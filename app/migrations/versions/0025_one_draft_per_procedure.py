"""at most one draft per procedure: a partial unique index on procedure_versions (procedure_code) for drafts

Two editors could each create a draft of one procedure, and the two then raced to publish. The service now refuses
a second draft (409 `conflict` naming the first); the index holds even for writers that skip its check.

A database that already holds several drafts of one procedure is not changed: the upgrade stops and names them.
Deleting a draft loses an editor's work, and which one to keep is the editors' call (publish one, or delete the
others: nothing refers to a draft, no dossier is filed under one).

Revision ID: 0025
Revises: 0024
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DRAFT = "status = 'draft'"


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT procedure_code, version FROM procedure_versions WHERE procedure_code IN ("
        f" SELECT procedure_code FROM procedure_versions WHERE {_DRAFT} GROUP BY procedure_code"
        f" HAVING count(*) > 1) AND {_DRAFT} ORDER BY procedure_code, version")).all()
    if rows:
        drafts: dict[str, list[str]] = {}
        for code, number in rows:
            drafts.setdefault(code, []).append(str(number))
        listed = "; ".join(f"{code}: versions {', '.join(numbers)}" for code, numbers in drafts.items())
        raise RuntimeError(f"Procedures with more than one draft ({listed}). Keep one draft per procedure (publish "
                           "or delete the others from procedure_versions), then upgrade again.")
    op.create_index("uq_procedure_versions_one_draft", "procedure_versions", ["procedure_code"], unique=True,
                    sqlite_where=sa.text(_DRAFT), postgresql_where=sa.text(_DRAFT))


def downgrade() -> None:
    op.drop_index("uq_procedure_versions_one_draft", table_name="procedure_versions")

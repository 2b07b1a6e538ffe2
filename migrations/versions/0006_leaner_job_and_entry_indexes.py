"""leaner job and entry indexes: the create path writes fewer index entries

A job's upstream id and its (team, Idempotency-Key) stay unique, now through partial unique
indexes that leave out the rows without one: a create without an Idempotency-Key, and a job
upstream has not answered yet, write no entry there. The indexes on ``balance_id`` of jobs and
entries go: no query looks rows up by it (balances are never deleted, and the audit reads the
journal in id order).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 07:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARTIAL_UNIQUE = {
    "uq_jobs_team_id_idempotency_key": (["team_id", "idempotency_key"], "idempotency_key"),
    "uq_jobs_upstream_id": (["upstream_id"], "upstream_id"),
}


def upgrade() -> None:
    # On SQLite, dropping the unique constraints rebuilds the table (batch mode).
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name in _PARTIAL_UNIQUE:
            batch_op.drop_constraint(name, type_="unique")
        batch_op.drop_index("ix_jobs_balance_id")
    for name, (columns, column) in _PARTIAL_UNIQUE.items():
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, "jobs", columns, unique=True, sqlite_where=where, postgresql_where=where
        )
    op.drop_index("ix_entries_balance_id", table_name="entries")


def downgrade() -> None:
    op.create_index("ix_entries_balance_id", "entries", ["balance_id"], unique=False)
    for name in _PARTIAL_UNIQUE:
        op.drop_index(name, table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name, (columns, _column) in _PARTIAL_UNIQUE.items():
            batch_op.create_unique_constraint(name, columns)
        batch_op.create_index("ix_jobs_balance_id", ["balance_id"], unique=False)

"""spend rollups for reports; released credits per job

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:30:43.825058
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend_rollups",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), server_default="", nullable=False),
        sa.Column("key_id", sa.String(length=40), server_default="", nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_spend_rollups_team_id_teams")
        ),
        sa.PrimaryKeyConstraint(
            "team_id", "day", "endpoint", "model", "key_id", name=op.f("pk_spend_rollups")
        ),
    )
    with op.batch_alter_table("spend_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_spend_rollups_day", ["day"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("released_credits", sa.BigInteger(), server_default="0", nullable=False)
        )

    _backfill()


def _backfill() -> None:
    """Derive both from what is already there, so that an upgraded ledger passes its audit."""
    op.execute(
        "UPDATE jobs SET released_credits = COALESCE((SELECT SUM(e.credits) FROM entries e "
        "WHERE e.job_id = jobs.id AND e.kind IN ('release', 'return', 'hold_decrease')), 0)"
    )
    # Spend belongs to the UTC day its hold was made (SQLite stores UTC as naive text).
    if op.get_bind().dialect.name == "postgresql":
        day = "CAST(timezone('UTC', created_at) AS DATE)"
    else:
        day = "date(created_at)"
    op.execute(
        "INSERT INTO spend_rollups (team_id, day, endpoint, model, key_id, jobs, held, spent, "
        "released) "
        f"SELECT team_id, {day}, endpoint, COALESCE(model, ''), COALESCE(key_id, ''), COUNT(*), "
        "SUM(CASE WHEN status IN ('reserved', 'submitted', 'unknown') THEN held_credits "
        "ELSE 0 END), "
        "SUM(CASE WHEN status = 'settled' THEN charged_credits ELSE 0 END), "
        "SUM(released_credits) "
        f"FROM jobs GROUP BY team_id, {day}, endpoint, COALESCE(model, ''), COALESCE(key_id, '')"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("released_credits")

    with op.batch_alter_table("spend_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_spend_rollups_day")

    op.drop_table("spend_rollups")

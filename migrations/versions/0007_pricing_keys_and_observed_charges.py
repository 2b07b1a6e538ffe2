"""pricing keys on jobs, and the charges that teach ledger its prices

Jobs written before this migration have no resolution, audio, basis or table estimate: they are
left out of learned prices (there is nothing to compare their charge with) and show in
`GET /api/pricing/observed` under their endpoint and model with the rest of the key null.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns without defaults: SQLite adds them without rebuilding the table.
    op.add_column("jobs", sa.Column("resolution", sa.String(length=16), nullable=True))
    op.add_column("jobs", sa.Column("audio", sa.Boolean(), nullable=True))
    op.add_column("jobs", sa.Column("basis", sa.String(length=8), nullable=True))
    op.add_column("jobs", sa.Column("table_credits", sa.BigInteger(), nullable=True))
    op.create_table(
        "price_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("audio", sa.Boolean(), nullable=True),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("table_credits", sa.BigInteger(), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_price_observations_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_observations")),
    )
    op.create_index(
        op.f("ix_price_observations_observed_at"),
        "price_observations",
        ["observed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_price_observations_observed_at"), table_name="price_observations")
    op.drop_table("price_observations")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("table_credits")
        batch_op.drop_column("basis")
        batch_op.drop_column("audio")
        batch_op.drop_column("resolution")

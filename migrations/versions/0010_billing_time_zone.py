"""The billing time zone the rollups and the open periods are kept in

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12 10:00:00

Until this revision every day, week and month began at midnight UTC: the spend rollups are
per UTC day and every balance row's ``period_start`` / ``period_end`` are UTC midnights. This
revision adds ``billing_zone``, one row recording that (``UTC``), and changes no money and no
period.

Periods already open: nothing here moves them. When ledger then starts with another
``LEDGER_BILLING_TIMEZONE`` (``ledger.billing_zone.adopt``, run by ``ledger serve``, ``ledger
worker`` and ``ledger db upgrade``, in one transaction): the rollups are rebuilt from the jobs by
local day, and every day, week and month balance whose period is the current one or later (by its
name: "November", "the week of 2026-11-23") gets that same period's bounds in the new zone,
keeping its budget, adjustments, holds and spend, so no team gets a second budget for the period
it is in. Ended periods keep the bounds they had; ``none`` periods have none to move.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_zone")),
    )
    op.execute(
        "INSERT INTO billing_zone (id, zone, adopted_at) VALUES (1, 'UTC', CURRENT_TIMESTAMP)"
    )


def downgrade() -> None:
    op.drop_table("billing_zone")

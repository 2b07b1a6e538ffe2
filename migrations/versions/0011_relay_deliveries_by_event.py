"""An index of relay deliveries by their event, for pruning the webhook inbox

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:30:00

``ledger.webhooks.pruning`` deletes webhook events a week after they were processed, with their
relay deliveries. Without this index each deleted event would make PostgreSQL scan the whole of
``relay_deliveries`` (its foreign-key check), and each batch's reads would too.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_relay_deliveries_event_id", "relay_deliveries", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_relay_deliveries_event_id", table_name="relay_deliveries")

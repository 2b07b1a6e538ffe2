"""jobs remember their kind (where the project lives) and what the proxy answered

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:04:27.165848
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        # Jobs before this revision were image-to-video tests at most: 'video' is right for them.
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="video")
        )
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("response_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response_body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_jobs_kind_known"), "kind IN ('video', 'image', 'audio')"
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_jobs_kind_known"), type_="check")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("response_body")
        batch_op.drop_column("response_status")
        batch_op.drop_column("request_hash")
        batch_op.drop_column("kind")

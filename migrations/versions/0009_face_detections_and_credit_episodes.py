"""Face detections asked through the proxy (which team asked), and the episodes in which
Magic Hour's account was out of credits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "face_detections",
        sa.Column("upstream_id", sa.String(length=128), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("credits_charged", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_face_detections_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_face_detections_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("upstream_id", name=op.f("pk_face_detections")),
    )
    op.create_table(
        "credit_episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("last_refusal_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upstream_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_episodes")),
        sa.UniqueConstraint("open", name=op.f("uq_credit_episodes_open")),
    )


def downgrade() -> None:
    op.drop_table("credit_episodes")
    op.drop_table("face_detections")

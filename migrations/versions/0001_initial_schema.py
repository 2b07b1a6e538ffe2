"""initial schema: teams, keys, balances, jobs and the append-only journal

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:41:30.278966
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("budget_credits", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("max_credits_per_request", sa.BigInteger(), nullable=True),
        sa.Column("alert_thresholds", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "period IN ('none', 'day', 'week', 'month')", name=op.f("ck_teams_period_known")
        ),
        sa.CheckConstraint("budget_credits >= 0", name=op.f("ck_teams_budget_not_negative")),
        sa.CheckConstraint(
            "max_credits_per_request IS NULL OR max_credits_per_request > 0",
            name=op.f("ck_teams_max_per_request_positive"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("slug", name=op.f("uq_teams_slug")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("max_credits_per_request", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "max_credits_per_request IS NULL OR max_credits_per_request > 0",
            name=op.f("ck_api_keys_max_per_request_positive"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_api_keys_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_team_id"), ["team_id"], unique=False)

    op.create_table(
        "balances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("adjustments", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "period IN ('none', 'day', 'week', 'month')", name=op.f("ck_balances_period_known")
        ),
        sa.CheckConstraint("held >= 0", name=op.f("ck_balances_held_not_negative")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_balances_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balances")),
        sa.UniqueConstraint(
            "team_id",
            "period",
            "period_start",
            name=op.f("uq_balances_team_id_period_period_start"),
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("balance_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("upstream_id", sa.String(length=128), nullable=True),
        sa.Column("estimated_credits", sa.BigInteger(), nullable=False),
        sa.Column("held_credits", sa.BigInteger(), nullable=False),
        sa.Column("charged_credits", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("flag", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'settled') = (charged_credits IS NOT NULL)",
            name=op.f("ck_jobs_charged_iff_settled"),
        ),
        sa.CheckConstraint(
            "(status IN ('settled', 'released')) = (ended_at IS NOT NULL)",
            name=op.f("ck_jobs_ended_iff_closed"),
        ),
        sa.CheckConstraint(
            "status IN ('reserved', 'submitted', 'unknown', 'settled', 'released')",
            name=op.f("ck_jobs_status_known"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('settled', 'released') OR held_credits = 0",
            name=op.f("ck_jobs_ended_holds_nothing"),
        ),
        sa.CheckConstraint(
            "charged_credits IS NULL OR charged_credits >= 0",
            name=op.f("ck_jobs_charge_not_negative"),
        ),
        sa.CheckConstraint("estimated_credits >= 0", name=op.f("ck_jobs_estimate_not_negative")),
        sa.CheckConstraint("held_credits >= 0", name=op.f("ck_jobs_held_not_negative")),
        sa.ForeignKeyConstraint(
            ["balance_id"], ["balances.id"], name=op.f("fk_jobs_balance_id_balances")
        ),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_jobs_key_id_api_keys")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_jobs_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint(
            "team_id", "idempotency_key", name=op.f("uq_jobs_team_id_idempotency_key")
        ),
        sa.UniqueConstraint("upstream_id", name=op.f("uq_jobs_upstream_id")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_balance_id"), ["balance_id"], unique=False)
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)
        batch_op.create_index("ix_jobs_team_id_created_at", ["team_id", "created_at"], unique=False)

    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("balance_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_account", sa.String(length=12), nullable=False),
        sa.Column("to_account", sa.String(length=12), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "from_account IN ('funding', 'available', 'held', 'spent')",
            name=op.f("ck_entries_from_account_known"),
        ),
        sa.CheckConstraint(
            "kind IN ('allocation', 'adjustment', 'reserve', 'hold_increase', 'hold_decrease', 'settle', 'return', 'overrun', 'release')",
            name=op.f("ck_entries_kind_known"),
        ),
        sa.CheckConstraint(
            "to_account IN ('funding', 'available', 'held', 'spent')",
            name=op.f("ck_entries_to_account_known"),
        ),
        sa.CheckConstraint("credits > 0", name=op.f("ck_entries_credits_positive")),
        sa.CheckConstraint("from_account <> to_account", name=op.f("ck_entries_accounts_differ")),
        sa.ForeignKeyConstraint(
            ["balance_id"], ["balances.id"], name=op.f("fk_entries_balance_id_balances")
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_entries_job_id_jobs")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_entries_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_balance_id", ["balance_id"], unique=False)
        batch_op.create_index(
            "ix_entries_team_id_created_at", ["team_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_entries_job_id_once_per_job_kind",
            ["job_id", "kind"],
            unique=True,
            sqlite_where=sa.text("kind IN ('reserve', 'settle', 'return', 'overrun', 'release')"),
            postgresql_where=sa.text(
                "kind IN ('reserve', 'settle', 'return', 'overrun', 'release')"
            ),
        )

    _create_append_only_guard()


def downgrade() -> None:
    _drop_append_only_guard()
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_entries_job_id_once_per_job_kind",
            sqlite_where=sa.text("kind IN ('reserve', 'settle', 'return', 'overrun', 'release')"),
            postgresql_where=sa.text(
                "kind IN ('reserve', 'settle', 'return', 'overrun', 'release')"
            ),
        )
        batch_op.drop_index("ix_entries_team_id_created_at")
        batch_op.drop_index("ix_entries_balance_id")

    op.drop_table("entries")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_team_id_created_at")
        batch_op.drop_index("ix_jobs_status")
        batch_op.drop_index(batch_op.f("ix_jobs_balance_id"))

    op.drop_table("jobs")
    op.drop_table("balances")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_team_id"))

    op.drop_table("api_keys")
    op.drop_table("teams")


# The journal is append-only: the database itself refuses to change or delete an entry.
_SQLITE_GUARDS = {
    "entries_no_update": "BEFORE UPDATE ON entries",
    "entries_no_delete": "BEFORE DELETE ON entries",
}


def _create_append_only_guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, when in _SQLITE_GUARDS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} "
                "BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END"
            )
        return
    op.execute(
        """
        CREATE FUNCTION entries_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'entries are append-only';
        END
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries "
        "FOR EACH ROW EXECUTE FUNCTION entries_append_only()"
    )
    # TRUNCATE skips row triggers; refuse it too.
    op.execute(
        "CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only()"
    )


def _drop_append_only_guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    op.execute("DROP TRIGGER IF EXISTS entries_no_truncate ON entries")
    op.execute("DROP TRIGGER IF EXISTS entries_append_only ON entries")
    op.execute("DROP FUNCTION IF EXISTS entries_append_only()")

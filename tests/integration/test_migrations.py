"""The migration history builds exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from ledger import accounting, db, teams
from ledger.db import Database
from ledger.models import Base, Entry, Job


def test_models_and_migrations_agree(database: Database) -> None:
    """What `alembic check` reports: no difference between the migrated schema and the models."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert db.is_current(database)


def test_the_history_downgrades_and_upgrades_cleanly(database: Database) -> None:
    url = database.url.render_as_string(hide_password=False)
    command.downgrade(db.alembic_config(url), "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    assert not db.is_current(database)
    db.ensure_schema(database)
    assert db.is_current(database)
    assert {"teams", "api_keys", "balances", "jobs", "entries"} <= set(
        inspect(database.engine).get_table_names()
    )


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_upgrades_on_postgresql_do_not_collide(postgres, database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fresh = postgres.new_database(migrated=False)
    databases = [Database(fresh) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(db.upgrade, databases))
        assert all(db.is_current(d) for d in databases)
    finally:
        for d in databases:
            d.dispose()
        postgres.drop(fresh)


def test_leaner_indexes_keep_the_jobs_and_their_uniqueness(database: Database) -> None:
    """0006 rebuilds the jobs table on SQLite: jobs written before it are all still there, and an
    upstream id or a team's Idempotency-Key is still unique where set. (The jobs are written
    with today's code, then the schema is taken back to 0005 with them in it.)"""
    url = database.url.render_as_string(hide_password=False)
    with database.write() as session:
        team = teams.create_team(session, "a", budget_credits=1_000)
        for number, key in enumerate(("k1", None, None)):
            job = accounting.reserve(
                session, team.id, 10, endpoint="image-to-video", kind="video", idempotency_key=key
            )
            session.execute(update(Job).where(Job.id == job.id).values(upstream_id=f"up-{number}"))
    command.downgrade(db.alembic_config(url), "0005")
    db.upgrade(database)
    assert db.is_current(database)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 3
        assert session.scalar(select(func.count()).select_from(Entry)) == 4  # allocation + 3
        assert accounting.balance_of(session, teams.get_team(session, "a")).held == 30
    with database.write() as session:  # more jobs without a key or an upstream id: fine
        for _ in range(2):
            accounting.reserve(session, team.id, 10, endpoint="image-to-video", kind="video")
    for change in ({"upstream_id": "up-0"}, {"idempotency_key": "k1"}):
        with pytest.raises(IntegrityError), database.write() as session:
            job = accounting.reserve(session, team.id, 10, endpoint="image-to-video", kind="video")
            session.execute(update(Job).where(Job.id == job.id).values(**change))


def test_jobs_from_before_pricing_keys_survive_and_are_left_out_of_learning(
    database: Database,
) -> None:
    """0007 adds the rest of the pricing key to jobs: older jobs keep every column they had, with
    no resolution, audio, basis or table estimate, so their charges teach nothing."""
    from ledger.models import utcnow
    from ledger.pricing import learning

    url = database.url.render_as_string(hide_password=False)
    with database.write() as session:
        team = teams.create_team(session, "a", budget_credits=1_000)
        job = accounting.reserve(
            session, team.id, 10, endpoint="image-to-video", kind="video", model="kling-3.0"
        )
        job_id = job.id
    command.downgrade(db.alembic_config(url), "0006")
    db.upgrade(database)
    with database.write() as session:
        accounting.settle(session, job_id, 50)  # far above its 10: an overrun
    with database.read() as session:
        settled = session.get_one(Job, job_id)
        assert (settled.model, settled.charged_credits, settled.flag) == (
            "kling-3.0",
            50,
            "overrun",
        )
        assert (settled.resolution, settled.audio, settled.basis, settled.table_credits) == (
            None,
            None,
            None,
            None,
        )
        assert learning.read_learned(session, utcnow() - learning.WINDOW) == {}

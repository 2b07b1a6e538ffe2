"""The migration history builds exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from ledger import db
from ledger.db import Database
from ledger.models import Base


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

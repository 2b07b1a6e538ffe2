"""Schema migrations (Alembic): the newest revision, the database's, and the upgrade to it.

The migrations live in ``migrations/`` at the top of the repository, installed as the
``ledger.migrations`` package (:func:`migrations_dir`).
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

if TYPE_CHECKING:
    from ledger.db.engine import Database

# Distinct lock key for "someone is migrating this database" (PostgreSQL advisory lock).
_MIGRATION_LOCK_KEY = 0x1ED6E2


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation would mangle a '%' in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrations_dir() -> Path:
    return Path(str(importlib.resources.files("ledger.migrations")))


@functools.cache
def head_revision() -> str | None:
    script = ScriptDirectory(str(migrations_dir()))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database) -> None:
    """Bring the schema to the newest migration; safe when several instances start at once."""
    url = database.url.render_as_string(hide_password=False)
    config = alembic_config(url)
    if database.is_sqlite:
        command.upgrade(config, "head")
        return
    with database.engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            connection.commit()


def is_current(database: Database) -> bool:
    return current_revision(database.engine) == head_revision()


def ensure_schema(database: Database) -> None:
    """Upgrade only when needed (the common case is one cheap revision read)."""
    if not is_current(database):
        upgrade(database)

"""Engine, sessions and schema migrations. Nothing here runs at import time.

SQLite is the embedded default: WAL, a busy timeout, and every write transaction opened with
``BEGIN IMMEDIATE`` so writers queue up front instead of failing at commit. PostgreSQL runs at
READ COMMITTED; the accounting core's conditional updates and row locks keep it correct there.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# How long a SQLite writer waits for the lock before the request fails as unavailable (503).
SQLITE_BUSY_TIMEOUT_MS = 5_000
# Distinct lock key for "someone is migrating this database" (PostgreSQL advisory lock).
_MIGRATION_LOCK_KEY = 0x1ED6E2


class Database:
    """An engine and the two ways to open a unit of work on it: to read, and to write."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        **engine_options: Any,
    ) -> None:
        self.url = make_url(url)
        self.engine = _make_engine(url, sqlite_busy_timeout_ms, **engine_options)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(ledger_write=True), expire_on_commit=False
        )
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits when the block ends, rolls back if it raises.

        On SQLite, writers of this process also queue on a lock of ours: SQLite's own busy
        handler retries with sleeps and is unfair, so a queue in front of it keeps waits short
        and ordered; other processes still meet at BEGIN IMMEDIATE.
        """
        with self._write_lock, self._writer() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work; nothing it does is committed. Objects read stay usable
        (detached, not expired) after the block."""
        with self._reader() as session:
            yield session  # closing the session rolls its transaction back

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str, busy_timeout_ms: int, **options: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping (a round trip on every checkout, on the hot path): a connection found dead
        # fails its request with 503 and SQLAlchemy drops the pool's stale connections.
        options.setdefault("pool_size", 10)
        return create_engine(url, **options)

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = options.pop("connect_args", {})
    connect_args.setdefault("timeout", busy_timeout_ms / 1000)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own BEGIN handling is DEFERRED only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("ledger_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# -- migrations --------------------------------------------------------------------------------


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

"""The engines and the units of work on them: :class:`Database`.

SQLite is the embedded default: WAL, every write transaction opened with ``BEGIN IMMEDIATE``
once its turn comes (:class:`~ledger.db.sqlite_writers.WriterQueue`), so writers queue up front
instead of failing at commit. PostgreSQL runs at READ COMMITTED; the accounting core's
conditional updates and row locks keep it correct there, and :meth:`Database.transact` runs a
transaction again that PostgreSQL ended with a deadlock or a serialization failure (40P01,
40001). The create path has an engine of its own, in autocommit (:mod:`ledger.db.hot`).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ledger.db.hot import GroupCommit, Hot, T
from ledger.db.sqlite_writers import WriterQueue

if TYPE_CHECKING:
    from ledger.config import Settings

# How long a SQLite writer waits for the lock before the request fails as unavailable (503).
SQLITE_BUSY_TIMEOUT_MS = 5_000
# PostgreSQL's deadlock_detected and serialization_failure: Database.transact tries again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_ATTEMPTS = 4


class Database:
    """An engine and the two ways to open a unit of work on it: to read, and to write."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        pool_size: int = 10,
        **engine_options: Any,
    ) -> None:
        self.url = make_url(url)
        # Each of the two engines keeps ``pool_size`` connections (LEDGER_DATABASE_POOL_SIZE)
        # and opens no more: a thread waits its turn for one. Connections opened beyond the
        # pool ("overflow") are closed again when returned, so a busy PostgreSQL ledger would
        # fork a server process per statement (2x8 threads made 335 creates/s, 2x256 with
        # overflow 251, measured with bench/proxy_bench.py's create). At most 2 x pool_size
        # per process.
        engine_options = {"pool_size": pool_size, "max_overflow": 0, **engine_options}
        regular = dict(engine_options)
        if self.url.get_backend_name() != "sqlite":
            # Off the create path a round trip per checkout is cheap: a connection that died with
            # the server (a restart) is found and replaced, instead of failing a request.
            regular.setdefault("pool_pre_ping", True)
        self.engine = _make_engine(url, sqlite_busy_timeout_ms, **regular)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(ledger_write=True), expire_on_commit=False
        )
        self._write_lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._group: GroupCommit | None = None
        if self.is_sqlite:
            self._write_lock = WriterQueue(self.url.database, sqlite_busy_timeout_ms / 1000)
            self._group = GroupCommit(self)
        # The create path's connections: a pool of their own, in autocommit (see Hot).
        self.hot_engine = _make_engine(
            url,
            sqlite_busy_timeout_ms,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,  # autocommit: a returned connection has nothing to undo
            **engine_options,
        )

    @classmethod
    def of(cls, settings: Settings) -> Database:
        """The database the settings name, with their pool size (every process opens it so)."""
        return cls(settings.resolved_database_url, pool_size=settings.database_pool_size)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits when the block ends, rolls back if it raises.

        On SQLite, writers first queue in a :class:`WriterQueue`, so that ``BEGIN IMMEDIATE``
        finds the database free instead of waiting in SQLite's busy handler.
        """
        with self._write_lock, self._writer() as session, session.begin():
            yield session

    def transact(self, work: Callable[[Session], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
        """Run ``work`` in a write transaction; run it again (up to ``attempts`` times in all,
        after a short random pause) if PostgreSQL ended the transaction with a deadlock or a
        serialization failure, which undo everything the transaction did. ``work`` must be safe
        to run again from the start (it is: nothing of a failed attempt remains)."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return work(session)
            except DBAPIError as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                time.sleep(random.uniform(0.005, 0.025) * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work; nothing it does is committed. Objects read stay usable
        (detached, not expired) after the block."""
        with self._reader() as session:
            yield session  # closing the session rolls its transaction back

    def write_together(self, write: Callable[[Hot], T]) -> T:
        """Run ``write`` (a few of the create path's statements) as a committed transaction:
        on SQLite together with this process's other such writes (:class:`GroupCommit`); on
        PostgreSQL on its own, in autocommit, so ``write`` should be one statement."""
        if self._group is not None:
            return self._group.run(write)
        with self.hot() as hot:
            return write(hot)

    @contextlib.contextmanager
    def hot(self) -> Iterator[Hot]:
        """A connection for the create path's statements (see :class:`Hot`)."""
        dialect = self.hot_engine.dialect
        try:
            connection = self.hot_engine.raw_connection()
        except dialect.loaded_dbapi.Error as error:  # as Engine.connect() would say it
            raise DBAPIError.instance(
                None, None, error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        try:
            yield Hot(self, connection)
        finally:
            connection.close()  # back to the pool

    def dispose(self) -> None:
        self.engine.dispose()
        self.hot_engine.dispose()
        if isinstance(self._write_lock, WriterQueue):
            self._write_lock.close()


def is_retryable(error: DBAPIError) -> bool:
    """A deadlock or serialization failure: PostgreSQL undid the transaction; running it again
    may succeed."""
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _make_engine(url: str, busy_timeout_ms: int, **options: Any) -> Engine:
    parsed = make_url(url)
    # (A pool on SQLite too: reopening a SQLite connection costs its PRAGMAs.)
    if parsed.get_backend_name() != "sqlite":
        # The create path's engine has no pre-ping (a round trip on every checkout): there a
        # connection found dead fails its request with 503 and the pool is dropped (Hot).
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

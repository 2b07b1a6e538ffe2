"""Engine, sessions and schema migrations. Nothing here runs at import time.

SQLite is the embedded default: WAL, every write transaction opened with ``BEGIN IMMEDIATE``
once its turn comes (:class:`WriterQueue`), so writers queue up front instead of failing at
commit. PostgreSQL runs at READ COMMITTED; the accounting core's conditional updates and row
locks keep it correct there. The create path's few statements go to the driver directly
(:class:`Prepared`, :class:`Hot`) and, on SQLite, commit together (:class:`GroupCommit`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.resources
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

# How long a SQLite writer waits for the lock before the request fails as unavailable (503).
SQLITE_BUSY_TIMEOUT_MS = 5_000
# PostgreSQL's deadlock_detected and serialization_failure: Database.transact tries again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_ATTEMPTS = 4
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


class WriterQueue:
    """The SQLite writers of every ``ledger`` process, one at a time.

    SQLite's busy handler polls with sleeps of 1 to 100 ms, so a writer that meets another
    waits far longer than the other's transaction lasts (a few hundred microseconds here), and
    holds up its process meanwhile. Writers queue instead: on a lock of this process, then on
    an exclusive ``flock`` of a file beside the database, polled every 0.1 to 1 ms, which the
    kernel drops if its holder dies. (Not the database file itself: SQLite's own POSIX locks on
    it would be dropped when any of our descriptors of it closed.) A writer that waits longer
    than the busy timeout fails as SQLite would, "database is locked". Reentrant, like the
    transactions it guards.
    """

    def __init__(self, database_path: str | None, timeout: float) -> None:
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._timeout = timeout
        self._path = None
        if database_path and database_path != ":memory:" and not database_path.startswith("file:"):
            self._path = f"{database_path}-writers"
        self._fd: int | None = None

    def __enter__(self) -> None:
        deadline = time.monotonic() + self._timeout
        if not self._thread_lock.acquire(timeout=self._timeout):
            raise _locked()
        try:
            if self._depth == 0 and self._path is not None:
                self._lock_file(deadline)
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth += 1

    def _lock_file(self, deadline: float) -> None:
        if self._fd is None:
            self._fd = os.open(self._path or "", os.O_RDWR | os.O_CREAT, 0o600)
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _locked() from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def is_retryable(error: DBAPIError) -> bool:
    """A deadlock or serialization failure: PostgreSQL undid the transaction; running it again
    may succeed."""
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _locked() -> OperationalError:
    """What SQLite says when its busy timeout runs out, as SQLAlchemy would raise it."""
    return OperationalError(None, None, sqlite3.OperationalError("database is locked"))


def _make_engine(url: str, busy_timeout_ms: int, **options: Any) -> Engine:
    parsed = make_url(url)
    options.setdefault("pool_size", 10)  # (reopening a SQLite connection costs its PRAGMAs)
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


# -- the create path ---------------------------------------------------------------------------


class Prepared:
    """A Core statement compiled once for one dialect and run as the driver's own SQL.

    On the create path SQLAlchemy's work per execution (cache key, compiled-cache lookup, result
    metadata, ORM bookkeeping) costs several times what the database does. A prepared statement
    keeps the SQLAlchemy expression as the one source of truth and pays only for converting
    parameters and result values with the columns' types (UTC datetimes, JSON).
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiling = dialect
        if dialect.name == "sqlite":  # named parameters, so that both drivers take a dict
            compiling = cast(Any, type(dialect))(paramstyle="named")
        compiled = cast(SQLCompiler, statement.compile(dialect=compiling))
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError("a prepared statement cannot expand lists (IN): use OR")
        names = compiled.bind_names
        self._required = frozenset(name for bind, name in names.items() if bind.required)
        # Values written into the expression itself (literals), sent as parameters.
        self._defaults = {name: bind.value for bind, name in names.items() if not bind.required}
        self._convert = {
            name: processor
            for bind, name in names.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        columns = getattr(statement, "exported_columns", ())  # selected or returned
        self._read: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if not self._required <= params.keys():
            raise TypeError(f"missing parameters: {sorted(self._required - params.keys())}")
        values = {**params, **self._defaults}  # the statement's own values win
        for name, convert in self._convert.items():
            if name in values:
                values[name] = convert(values[name])
        return values

    def row(self, row: Sequence[Any] | None) -> tuple[Any, ...] | None:
        """A result row with each value converted by its column's type."""
        if row is None:
            return None
        return tuple(
            value if read is None else read(value)
            for value, read in zip(row, self._read, strict=True)
        )


_prepared: weakref.WeakKeyDictionary[Dialect, dict[ClauseElement, Prepared]] = (
    weakref.WeakKeyDictionary()
)


def prepare(statement: ClauseElement, dialect: Dialect) -> Prepared:
    """The statement prepared for this dialect, once. Kept as long as the dialect lives: for
    statements built once, at import (module constants), not for one built per call."""
    for_dialect = _prepared.setdefault(dialect, {})
    prepared = for_dialect.get(statement)
    if prepared is None:
        prepared = for_dialect[statement] = Prepared(statement, dialect)
    return prepared


class InSession:
    """Prepared statements run in a session's transaction: the same SQL as :class:`Hot`'s, for
    callers that already have a session open."""

    def __init__(self, session: Session) -> None:
        self._connection = session.connection()
        self.dialect_name = self._connection.dialect.name

    def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> Any:
        prepared = prepare(statement, self._connection.dialect)
        return self._connection.exec_driver_sql(prepared.sql, prepared.parameters(params))

    def first(self, statement: ClauseElement, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        prepared = prepare(statement, self._connection.dialect)
        result = self._connection.exec_driver_sql(prepared.sql, prepared.parameters(params))
        return prepared.row(result.first())


T = TypeVar("T")


class _Work(Generic[T]):
    """A write handed to a :class:`GroupCommit`, and what became of it."""

    def __init__(self, run: Callable[[Hot], T]) -> None:
        self.run = run
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


class GroupCommit:
    """SQLite: the create path's writes of this process's requests, committed together.

    A SQLite commit writes every page it touched to the WAL, and concurrent holds touch the
    same pages (the team's balance row, the right-hand edges of the same indexes): N holds
    committed together write about what one does alone. A request hands its write in; whoever
    gets to the process's writers first runs every write handed in so far in one transaction,
    commits, and tells each its outcome. If one of them fails (a refused hold), the transaction
    is rolled back and the batch run again, each write in a savepoint of its own, so that one
    failure changes nothing for the others; savepoints cost two statements per write, and
    failures are rare, so they are paid only then. Alone, a request runs its own write at
    once: no waiting for company.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._pending: list[_Work[Any]] = []
        self._pending_lock = threading.Lock()
        self._leader = threading.Lock()

    def run(self, write: Callable[[Hot], T]) -> T:
        work = _Work(write)
        with self._pending_lock:
            self._pending.append(work)
        with self._leader:
            if not work.done:
                self._commit_pending()
        return work.outcome()

    def _take_pending(self) -> list[_Work[Any]]:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        return batch

    def _commit_pending(self) -> None:
        """Lead: once the database is ours, run every write handed in so far and commit."""
        batch: list[_Work[Any]] = []
        try:
            with self._database._write_lock, self._database.hot() as hot:
                batch = self._take_pending()  # all that came while we waited for the lock
                if not _all_at_once(hot, batch):
                    _each_in_savepoint(hot, batch)
        except BaseException as error:  # nothing was committed: every write failed with it
            batch = batch or self._take_pending()
            for work in batch:
                work.error = work.error or error
        finally:
            for work in batch:
                work.done = True


def _all_at_once(hot: Hot, batch: list[_Work[Any]]) -> bool:
    """Run the batch's writes in one transaction and commit them; False, having changed
    nothing, if one of them failed (then each must run in a savepoint of its own)."""
    hot.plain("BEGIN IMMEDIATE")
    try:
        values = [work.run(hot) for work in batch]
    except Exception as error:
        _roll_back(hot)
        if len(batch) == 1:  # alone, its failure is its outcome
            batch[0].error = error
            return True
        return False
    except BaseException:
        _roll_back(hot)
        raise
    hot.plain("COMMIT")
    for work, value in zip(batch, values, strict=True):
        work.value = value
    return True


def _each_in_savepoint(hot: Hot, batch: list[_Work[Any]]) -> None:
    """Run the batch's writes again, each in a savepoint (one refused hold changes nothing for
    the others), and commit those that succeeded."""
    hot.plain("BEGIN IMMEDIATE")
    try:
        for work in batch:
            hot.plain("SAVEPOINT write")
            try:
                work.value = work.run(hot)
            except Exception as error:  # this write's own failure: undo just it
                hot.plain("ROLLBACK TO write")
                work.error = error
            hot.plain("RELEASE write")
        hot.plain("COMMIT" if any(w.error is None for w in batch) else "ROLLBACK")
    except BaseException:
        _roll_back(hot)
        raise


def _roll_back(hot: Hot) -> None:
    with contextlib.suppress(DBAPIError):  # an error may have ended the transaction already
        hot.plain("ROLLBACK")


class Hot:
    """A pooled connection used through its driver, statement by statement, in autocommit: the
    create path's few statements without SQLAlchemy's per-execution work. Driver errors come out
    as SQLAlchemy's (``OperationalError``, ``IntegrityError``...), like everywhere else; a
    connection found dead is dropped, and the pool with it."""

    def __init__(self, database: Database, connection: Any) -> None:
        self._database = database
        self._connection = connection  # a pool-proxied DBAPI connection
        self._dialect = database.engine.dialect
        self.dialect_name = self._dialect.name

    def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> Any:
        """Run a statement; returns the driver's cursor."""
        return self._execute(self._prepare(statement), params)

    def first(self, statement: ClauseElement, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a query (or of what a statement returns), values converted."""
        prepared = self._prepare(statement)
        return prepared.row(self._execute(prepared, params).fetchone())

    def _prepare(self, statement: ClauseElement) -> Prepared:
        return prepare(statement, self._dialect)

    def _execute(self, prepared: Prepared, params: Mapping[str, Any]) -> Any:
        return self._run(prepared.sql, prepared.parameters(params))

    def plain(self, sql: str) -> None:
        """A statement without parameters (BEGIN, COMMIT, SAVEPOINT...)."""
        self._run(sql)

    def _run(self, sql: str, values: dict[str, Any] | None = None) -> Any:
        cursor = self._connection.cursor()
        try:
            if values is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, values)
        except self._dialect.loaded_dbapi.Error as error:
            raise self._translated(error, sql, cursor) from error
        return cursor

    def _translated(self, error: Any, sql: str, cursor: Any) -> Exception:
        gone = self._dialect.is_disconnect(error, self._connection.dbapi_connection, cursor)
        if gone:
            self._connection.invalidate(error)
            self._database.hot_engine.dispose()  # its other connections are likely dead too
        return DBAPIError.instance(
            sql,
            None,
            error,
            self._dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=gone,
            dialect=self._dialect,
        )


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

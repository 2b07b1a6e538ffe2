"""The create path's statements, run through the driver, past SQLAlchemy's per-execution work.

A statement is compiled once per dialect (:class:`Prepared`, :func:`prepare`) and run on a
pooled connection in autocommit (:class:`Hot`, from ``Database.hot()``), or in a session's
transaction (:class:`InSession`), the same SQL either way. On SQLite the create path's writes of
this process's requests commit together (:class:`GroupCommit`, from
``Database.write_together()``).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

if TYPE_CHECKING:
    from ledger.db.engine import Database


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

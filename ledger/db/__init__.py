"""Engine, sessions and schema migrations. Nothing here runs at import time.

SQLite is the embedded default: WAL, every write transaction opened with ``BEGIN IMMEDIATE``
once its turn comes (:class:`WriterQueue`), so writers queue up front instead of failing at
commit. PostgreSQL runs at READ COMMITTED; the accounting core's conditional updates and row
locks keep it correct there. The create path's few statements go to the driver directly
(:class:`Prepared`, :class:`Hot`) and, on SQLite, commit together (:class:`GroupCommit`).

Where each part lives:

- :mod:`ledger.db.engine`: :class:`Database` (engines, read and write sessions, the retry of a
  transaction PostgreSQL ended with a deadlock or a serialization failure);
- :mod:`ledger.db.sqlite_writers`: :class:`WriterQueue`, SQLite's writers one at a time;
- :mod:`ledger.db.hot`: the create path's statements (:class:`Prepared`, :class:`Hot`,
  :class:`InSession`) and SQLite's group commit (:class:`GroupCommit`);
- :mod:`ledger.db.schema`: the Alembic migrations (:func:`upgrade`, :func:`ensure_schema`).
"""

from __future__ import annotations

# Every name callers use, here where they have always found it: ``db.upgrade(database)``.
from ledger.db.engine import (
    RETRY_ATTEMPTS,
    RETRYABLE_SQLSTATES,
    SQLITE_BUSY_TIMEOUT_MS,
    Database,
    is_retryable,
)
from ledger.db.hot import GroupCommit, Hot, InSession, Prepared, prepare
from ledger.db.schema import (
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    is_current,
    migrations_dir,
    upgrade,
)
from ledger.db.sqlite_writers import WriterQueue

__all__ = [
    "RETRYABLE_SQLSTATES",
    "RETRY_ATTEMPTS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "Database",
    "GroupCommit",
    "Hot",
    "InSession",
    "Prepared",
    "WriterQueue",
    "alembic_config",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "is_current",
    "is_retryable",
    "migrations_dir",
    "prepare",
    "upgrade",
]

"""SQLite's writers, one at a time across every ``ledger`` process: :class:`WriterQueue`."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

from sqlalchemy.exc import OperationalError


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


def _locked() -> OperationalError:
    """What SQLite says when its busy timeout runs out, as SQLAlchemy would raise it."""
    return OperationalError(None, None, sqlite3.OperationalError("database is locked"))

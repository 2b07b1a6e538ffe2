"""The simulator's shared state: one SQLite file that every server worker opens.

Why SQLite: the simulator runs as several worker processes to reach its throughput target, and
what one worker creates another must answer for (a GET, a DELETE, the balance). A project's whole
future is decided at create time (its timings, outcome and final cost are columns of its row), so
each read is one indexed lookup and nothing is ever written in the background. The account balance
is derived from the jobs (start credits minus what each job has charged by now), never stored, so
refunds appear by themselves when a job's time comes. A create is recorded only if the account
can pay for it, decided in the transaction that records it (so workers cannot overspend together);
a running worst case (each job's larger charge, estimate or final) spares that check the sum over
every job while the account is far from empty.

Durability does not matter here (``synchronous=OFF``); WAL lets readers and the writer overlap.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ledger.simulator.options import Faults

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    project_type TEXT NOT NULL,
    name TEXT,
    created_at REAL NOT NULL,
    started_at REAL NOT NULL,
    finish_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    estimate INTEGER NOT NULL,
    settled INTEGER NOT NULL,
    estimate_fps REAL NOT NULL,
    final_fps REAL NOT NULL,
    start_seconds REAL NOT NULL,
    end_seconds REAL NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    image_count INTEGER NOT NULL,
    output TEXT NOT NULL,
    fault TEXT,
    canceled_at REAL,
    deleted_at REAL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# What a job has charged at time :now: nothing once canceled, its settled amount once finished
# (0 after an error), its estimate before.
_CHARGED_NOW = """
CASE WHEN canceled_at IS NOT NULL AND :now >= canceled_at THEN 0
     WHEN :now >= finish_at THEN settled
     ELSE estimate END
"""


@dataclass(frozen=True)
class Job:
    """One created project, with its whole planned future (see ``projects.plan_job``)."""

    id: str
    kind: str
    endpoint: str
    project_type: str
    name: str | None
    created_at: float
    started_at: float  # queued until then, rendering after
    finish_at: float  # the planned outcome happens then
    outcome: str  # complete | error | canceled
    estimate: int  # credits_charged at create time
    settled: int  # credits_charged once finished (0 after an error or a cancel)
    estimate_fps: float
    final_fps: float
    start_seconds: float
    end_seconds: float
    width: int
    height: int
    image_count: int
    output: str  # download file name
    fault: str | None = None  # the injected fault that hid or delayed the create response
    canceled_at: float | None = None
    deleted_at: float | None = None


_NAMES = tuple(f.name for f in fields(Job))
_COLUMNS = ", ".join(_NAMES)
_PLACEHOLDERS = ", ".join("?" for _ in fields(Job))


class Store:
    """Thread- and process-safe access to the state file. Connections are per thread and per
    process (a connection must never cross a fork)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._faults_cache: tuple[str, Faults] | None = None

    # -- plumbing --------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def initialize(self, faults: Faults) -> None:
        """Create the tables if needed and set the faults. Run once before workers start."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connection()
        conn.executescript(_SCHEMA)
        self.set_faults(faults)

    def reset(self, faults: Faults) -> None:
        """Forget every job and counter; restore ``faults``."""
        with self._write() as conn:
            conn.execute("DELETE FROM jobs")
            conn.execute("DELETE FROM counters")
            conn.execute("DELETE FROM settings WHERE key = 'committed'")
            conn.execute(
                "INSERT OR REPLACE INTO settings VALUES ('faults', ?)",
                (json.dumps(faults.to_json()),),
            )

    # -- jobs ------------------------------------------------------------------------------------

    def add_job(self, job: Job, counter: str, credits: int) -> bool:
        """Record ``job`` and count the request that made it, in one transaction, if an account
        of ``credits`` start credits can pay its create-time charge now; else count the request
        and return False (a free job always fits, even on an overdrawn account)."""
        with self._write() as conn:
            _bump(conn, counter, 1)
            row = conn.execute("SELECT value FROM settings WHERE key = 'committed'").fetchone()
            committed = int(row[0]) if row else 0
            if job.estimate > 0 and committed + job.estimate > credits:
                charged = conn.execute(
                    f"SELECT COALESCE(SUM({_CHARGED_NOW}), 0) FROM jobs", {"now": job.created_at}
                ).fetchone()[0]
                if job.estimate > credits - int(charged):
                    return False
            conn.execute(f"INSERT INTO jobs ({_COLUMNS}) VALUES ({_PLACEHOLDERS})", _row(job))
            conn.execute(
                "INSERT OR REPLACE INTO settings VALUES ('committed', ?)",
                (str(committed + max(job.estimate, job.settled)),),
            )
        return True

    def job(self, job_id: str) -> Job | None:
        row = (
            self._connection()
            .execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        return Job(*row) if row else None

    def jobs(self, *, kind: str | None = None, limit: int = 1000, after: int = 0) -> list[Job]:
        """Jobs in creation order, ``after`` skipping that many."""
        sql = f"SELECT {_COLUMNS} FROM jobs"
        args: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        sql += " ORDER BY rowid LIMIT ? OFFSET ?"
        args += [limit, after]
        return [Job(*row) for row in self._connection().execute(sql, args)]

    def cancel(self, job_id: str, now: float) -> bool:
        """Cancel a job that has not finished yet; False if it had (or does not exist)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET canceled_at = ? WHERE id = ? AND canceled_at IS NULL"
                " AND finish_at > ?",
                (now, job_id, now),
            )
        return cursor.rowcount == 1

    def delete(self, job_id: str, now: float) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (now, job_id)
            )

    def charged(self, now: float) -> int:
        """Credits charged by every job as of ``now`` (estimates until they finish)."""
        row = (
            self._connection()
            .execute(f"SELECT COALESCE(SUM({_CHARGED_NOW}), 0) FROM jobs", {"now": now})
            .fetchone()
        )
        return int(row[0])

    # -- counters and faults ---------------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        with self._write() as conn:
            _bump(conn, name, n)

    def counters(self) -> dict[str, int]:
        rows = self._connection().execute("SELECT name, n FROM counters ORDER BY name")
        return dict(rows.fetchall())

    def faults(self) -> Faults:
        row = (
            self._connection().execute("SELECT value FROM settings WHERE key = 'faults'").fetchone()
        )
        if row is None:
            return Faults()
        # parsed once per change, not per request: this runs on every /v1/ call
        cached = self._faults_cache
        if cached is None or cached[0] != row[0]:
            cached = self._faults_cache = (row[0], Faults(**json.loads(row[0])))
        return cached[1]

    def set_faults(self, faults: Faults) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO settings VALUES ('faults', ?)",
                (json.dumps(faults.to_json()),),
            )


def _row(job: Job) -> tuple[Any, ...]:
    # not dataclasses.astuple: it deep-copies every field, a third of a create's time
    return tuple(getattr(job, name) for name in _NAMES)


def _bump(conn: sqlite3.Connection, name: str, n: int) -> None:
    conn.execute(
        "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET n = n + excluded.n",
        (name, n),
    )

"""The floor for any ledger: the pass-through plus the two durable writes a create needs.

CONTRACT §3 and §7 ask that a create's hold is committed before the call goes upstream, and
that upstream's answer is committed before the client hears it. This app does exactly that and
nothing else, with the leanest tools at hand: the pass-through of bench/passthrough_app.py, a
key looked up in a dict, the estimate read from ``end_seconds``, and two raw driver
transactions (no SQLAlchemy, no validation, no pricing table, no log line, no metric):

- the hold: the balance's conditional update, the job's row and its journal entry, committed;
- the record: the job's status and upstream id, committed.

On SQLite each thread keeps its own connection (WAL, ``synchronous=NORMAL``, as ledger) and
writers of all processes take turns on a blocking ``flock``; on PostgreSQL each thread keeps its
own psycopg connection in autocommit and the hold is one statement. A ledger that keeps the
contract's promises can hardly do less (it could commit the writes of concurrent requests
together, as ledger does on SQLite), so (floor's req/s) / (pass-through's req/s) is about the
most a ledger can reach on this machine (bench/proxy_bench.py runs it beside the others):

    python bench/floor_app.py --port P --upstream http://127.0.0.1:S --database URL [...]
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from passthrough_app import (
    as_response,
    bench_app,
    forward,
    serve,
    server_arguments,
    upstream_client,
)

KEY = "floor-key"
BUDGET = 10**12

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS balances (
    id INTEGER PRIMARY KEY, budget INTEGER NOT NULL, held INTEGER NOT NULL, spent INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, balance_id INTEGER NOT NULL REFERENCES balances (id),
    estimate INTEGER NOT NULL, status TEXT NOT NULL, upstream_id TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs (id),
    kind TEXT NOT NULL, credits INTEGER NOT NULL
);
INSERT OR IGNORE INTO balances VALUES (1, {budget}, 0, 0);
"""

HOLD_BALANCE = "UPDATE balances SET held = held + ? WHERE id = 1 AND budget - held - spent >= ?"

HOLD_ENTRY = "INSERT INTO entries (job_id, kind, credits) VALUES (last_insert_rowid(), 'hold', ?)"

POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS balances (
    id BIGINT PRIMARY KEY, budget BIGINT NOT NULL, held BIGINT NOT NULL, spent BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id BIGSERIAL PRIMARY KEY, balance_id BIGINT NOT NULL REFERENCES balances (id),
    estimate BIGINT NOT NULL, status TEXT NOT NULL, upstream_id TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    id BIGSERIAL PRIMARY KEY, job_id BIGINT NOT NULL REFERENCES jobs (id),
    kind TEXT NOT NULL, credits BIGINT NOT NULL
);
INSERT INTO balances VALUES (1, {budget}, 0, 0) ON CONFLICT DO NOTHING;
"""

POSTGRES_HOLD = """
WITH held AS (
    UPDATE balances SET held = held + %(estimate)s
    WHERE id = 1 AND budget - held - spent >= %(estimate)s RETURNING id
), job AS (
    INSERT INTO jobs (balance_id, estimate, status) SELECT id, %(estimate)s, 'reserved' FROM held
    RETURNING id
)
INSERT INTO entries (job_id, kind, credits) SELECT id, 'hold', %(estimate)s FROM job
RETURNING job_id
"""


class Sqlite:
    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    @staticmethod
    def prepare(path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SQLITE_SCHEMA.format(budget=BUDGET))
        connection.close()

    def _connection(self) -> tuple[sqlite3.Connection, int]:
        local = self._local
        if not hasattr(local, "connection"):
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=5)
            connection.execute("PRAGMA synchronous=NORMAL")
            local.connection = connection
            local.lock = open(self._path + ".lock", "a")  # noqa: SIM115 (one per thread)
        return local.connection, local.lock.fileno()

    def _write(self, *statements: tuple[str, tuple[Any, ...]]) -> list[int] | None:
        """Run ``statements`` in one transaction; None (rolled back) if one changes no row."""
        connection, lock = self._connection()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                rows = []
                for sql, parameters in statements:
                    cursor = connection.execute(sql, parameters)
                    if cursor.rowcount == 0:
                        connection.execute("ROLLBACK")
                        return None
                    rows.append(cursor.lastrowid or 0)
                connection.execute("COMMIT")
                return rows
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def hold(self, estimate: int) -> int | None:
        rows = self._write(
            (HOLD_BALANCE, (estimate, estimate)),
            (
                "INSERT INTO jobs (balance_id, estimate, status) VALUES (1, ?, 'reserved')",
                (estimate,),
            ),
            (HOLD_ENTRY, (estimate,)),
        )
        return None if rows is None else rows[1]

    def record(self, job_id: int, upstream_id: str | None) -> None:
        self._write(
            (
                "UPDATE jobs SET status = ?, upstream_id = ? WHERE id = ? AND status = 'reserved'",
                ("submitted" if upstream_id else "released", upstream_id, job_id),
            )
        )


class Postgres:
    def __init__(self, url: str) -> None:
        import psycopg

        self._connect = lambda: psycopg.connect(url, autocommit=True)
        self._local = threading.local()

    @staticmethod
    def prepare(url: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(POSTGRES_SCHEMA.format(budget=BUDGET))  # type: ignore[arg-type]

    def _connection(self) -> Any:
        if not hasattr(self._local, "connection"):
            self._local.connection = self._connect()
        return self._local.connection

    def hold(self, estimate: int) -> int | None:
        row = self._connection().execute(POSTGRES_HOLD, {"estimate": estimate}).fetchone()
        return None if row is None else int(row[0])

    def record(self, job_id: int, upstream_id: str | None) -> None:
        self._connection().execute(
            "UPDATE jobs SET status = %s, upstream_id = %s WHERE id = %s AND status = 'reserved'",
            ("submitted" if upstream_id else "released", upstream_id, job_id),
        )


def open_store(database: str) -> tuple[type[Sqlite] | type[Postgres], str]:
    if database.startswith("postgresql"):
        return Postgres, database.replace("postgresql+psycopg://", "postgresql://")
    return Sqlite, database.removeprefix("sqlite:///")


def create_app(upstream_url: str, database: str) -> Flask:
    client = upstream_client(upstream_url, "floor")
    kind, target = open_store(database)
    store = kind(target)
    keys = {f"Bearer {KEY}": 1}
    app = bench_app("floor")

    @app.post("/v1/<tool>")
    def create(tool: str) -> Response:
        if request.headers.get("authorization") not in keys:
            return Response('{"error":"unauthorized"}', status=401, content_type="application/json")
        body = request.get_data(cache=False)
        estimate = 48 * int(json.loads(body)["end_seconds"])  # kling-3.0 at 720p: 48 credits/s
        job_id = store.hold(estimate)
        if job_id is None:
            return Response('{"error":"over budget"}', status=402, content_type="application/json")
        reply = forward(client, tool, body)
        upstream_id = reply.json().get("id") if reply.status_code == 200 else None
        store.record(job_id, upstream_id)
        return as_response(reply)

    return app


def main() -> None:
    parser = server_arguments(__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="sqlite:///PATH or postgresql://...")
    args = parser.parse_args()
    kind, target = open_store(args.database)
    kind.prepare(target)  # once, before the workers fork
    serve(lambda: create_app(args.upstream, args.database), args, "floor")


if __name__ == "__main__":
    main()

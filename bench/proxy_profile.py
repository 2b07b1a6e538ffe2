"""Where a create's time goes inside `ledger serve`, without HTTP in front (bench/proxy_bench.py).

    python bench/proxy_profile.py [--requests 1000] [--database sqlite|postgres] [--top 25]

Starts `ledger simulator` on a free loopback port, builds the ledger app on a fresh database (a
SQLite file under /tmp, or a PostgreSQL database created and dropped on 127.0.0.1:5432), creates
one hot team, and sends creates through Flask's test client (a direct WSGI call; the upstream
call is real HTTP to the simulator). Prints, for one create, every SQL statement and transaction
it runs; then the time per create of the main steps and the top functions under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_bench import BenchError, postgres_database, start_simulator

BODY = b'{"assets":{"image_file_path":"api-assets/id/a.png"},"end_seconds":3}'
# Steps of the create path, by (file suffix, function name) as cProfile names them.
STEPS = [
    ("flask/app.py", "wsgi_app", "the whole request (Flask)"),
    ("ledger/proxy.py", "create", "Proxy.create"),
    ("ledger/accounting.py", "hold_for_key", "accounting.hold_for_key (lookup + hold)"),
    ("ledger/db.py", "_commit_pending", "group commits (SQLite)"),
    ("ledger/accounting.py", "_take", "the hold's statements"),
    ("ledger/upstream.py", "request", "upstream call (httpx)"),
    ("ledger/proxy.py", "_record_created", "record upstream's answer"),
    ("ledger/web/proxy_routes.py", "_access_log", "access log line"),
    ("logging/__init__.py", "handle", "logging handlers (all lines)"),
    ("ledger/db.py", "_run", "driver statements (create path)"),
    ("sqlalchemy/engine/base.py", "_execute_context", "SQLAlchemy statements (elsewhere)"),
    ("sqlalchemy/pool/base.py", "_checkout", "pool checkout"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proxy-profile-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        try:
            simulator = start_simulator(stack, workdir)
            if args.database == "sqlite":
                url = f"sqlite:///{workdir / 'ledger.db'}"
            else:
                name = f"ledger_profile_{os.getpid()}"
                url = postgres_database(stack, args.postgres_url, name)
            profile(url, simulator.url, args, stack)
        except (BenchError, subprocess.TimeoutExpired, httpx.HTTPError) as exc:
            print(f"proxy_profile: {exc}", file=sys.stderr)
            return 1
    return 0


def profile(url: str, simulator_url: str, args: argparse.Namespace, stack: ExitStack) -> None:
    os.environ.update(
        LEDGER_DATABASE_URL=url,
        LEDGER_UPSTREAM_URL=simulator_url,
        MAGIC_HOUR_API_KEY="bench-upstream-token",
    )
    from ledger import db, teams
    from ledger.config import load_settings
    from ledger.web import create_app, services_of
    from ledger.web.server import configure_logging

    settings = load_settings()
    database = db.Database(settings.resolved_database_url)
    db.upgrade(database)
    with database.write() as session:
        teams.create_team(session, "hot", budget_credits=10**12)
        key = teams.create_key(session, "hot").secret
    database.dispose()

    configure_logging()  # as `ledger serve` does: INFO lines on stderr (sent to /dev/null here)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stack.enter_context(open(os.devnull, "w")))  # noqa: SIM115
    app = create_app(settings)
    stack.callback(services_of(app).close)
    engine = services_of(app).database.engine
    statements: list[str] = []
    transactions: Counter[str] = Counter()
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    event.listen(engine, "begin", lambda *a: transactions.update(["begin"]))
    event.listen(engine, "commit", lambda *a: transactions.update(["commit"]))
    event.listen(engine, "rollback", lambda *a: transactions.update(["rollback"]))
    # The create path's statements go to the driver (ledger.db.Hot), past SQLAlchemy's events.
    hot_run = db.Hot._run

    def run(hot: Any, sql: str, values: Any = None) -> Any:
        statements.append(sql)
        if values is None:
            transactions.update([sql.split()[0].lower()])
        return hot_run(hot, sql, values)

    db.Hot._run = run  # type: ignore[method-assign]

    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def create() -> Any:
        response = client.post("/v1/image-to-video", data=BODY, headers=headers)
        assert response.status_code == 200, response.data
        return response

    for _ in range(50):  # warm: connections pooled, statements compiled and cached
        create()
    statements.clear()
    transactions.clear()
    create()
    print(f"database: {engine.dialect.name}; one create runs {len(statements)} SQL statements")
    for statement in statements:
        print("   ", " ".join(statement.split())[:150])
    print(f"transactions: {dict(transactions)}")

    started = time.perf_counter()
    for _ in range(200):
        create()
    plain = (time.perf_counter() - started) / 200 * 1e3
    direct = httpx.Client(base_url=simulator_url)
    stack.callback(direct.close)
    started = time.perf_counter()
    for _ in range(200):
        direct.post("/v1/image-to-video", content=BODY, headers=headers)
    upstream_only = (time.perf_counter() - started) / 200 * 1e3
    print(
        f"\nwall time per create, no profiler: {plain:.2f} ms through the app; "
        f"{upstream_only:.2f} ms for the same call straight to the simulator"
    )

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        create()
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\nunder cProfile ({args.requests} creates; the profiler inflates small functions):")
    print(f"{'ms/create':>10} {'calls/create':>12}  step")
    for suffix, function, label in STEPS:
        total, calls = 0.0, 0
        for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
            if name == function and filename.endswith(suffix):
                total, calls = max(total, row[3]), max(calls, row[1])
        if calls:
            per = total / args.requests * 1e3
            print(f"{per:10.3f} {calls / args.requests:12.1f}  {label}")
    print()
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    sys.exit(main())

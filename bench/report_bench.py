"""How long a month's spend report by team x day takes over 1,000,000 jobs (target: < 200 ms).

Fills a fresh database on SQLite and on PostgreSQL with 20 teams, 40 keys and N jobs spread over
30 days of November 2026, 10 endpoints and 5 models (a tenth still open, a tenth released, the
rest settled), all written in bulk by SQL (not through the proxy), then the rollups derived from
them by SQL as migration 0004 does. Then times ``reports.spend_report`` (group_by team,day, the
whole month, forecasts included) in a fresh read session, median of several runs, and once a
grouping by tag (read from the jobs table) for comparison.

    python bench/report_bench.py [--jobs 1000000] [--runs 7] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from ledger import db, reports
from ledger.db import Database
from ledger.models import ApiKey, Balance, Team

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SCRATCH = "ledger_report_bench"
TEAMS, KEYS, DAYS, ENDPOINTS, MODELS = 20, 40, 30, 10, 5
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)

# One row per job i; shared by both dialects except for dates and the row source.
_JOB_COLUMNS = (
    "id, team_id, key_id, balance_id, endpoint, kind, model, status, estimated_credits, "
    "held_credits, charged_credits, tags, created_at, ended_at, polls, released_credits"
)
_CHARGE = "(30 + (i * 7) % 121)"  # 30..150 against a hold of 90: some settle above it


def _job_values(job_id: str, created: str, ended: str, tags: str) -> str:
    # Team, day, key, endpoint and model vary independently: every combination occurs.
    model = f"((i / {TEAMS * DAYS * 2 * ENDPOINTS}) % {MODELS})"
    status = "((i / 3) % 10)"
    return f"""
        {job_id},
        (i % {TEAMS}) + 1,
        'key_' || ((i % {TEAMS}) * 2 + (i / {TEAMS * DAYS}) % 2),
        (i % {TEAMS}) + 1,
        'endpoint-' || ((i / {TEAMS * DAYS * 2}) % {ENDPOINTS}),
        'video',
        CASE WHEN {model} = 0 THEN NULL ELSE 'model-' || {model} END,
        CASE {status} WHEN 0 THEN 'reserved' WHEN 1 THEN 'released' ELSE 'settled' END,
        90,
        CASE {status} WHEN 0 THEN 90 ELSE 0 END,
        CASE WHEN {status} >= 2 THEN {_CHARGE} END,
        {tags},
        {created},
        CASE WHEN {status} = 0 THEN NULL ELSE {ended} END,
        0,
        CASE WHEN {status} = 1 THEN 90 WHEN {status} >= 2 AND {_CHARGE} < 90 THEN 90 - {_CHARGE}
             ELSE 0 END
    """


def _fill_jobs(database: Database, jobs: int) -> None:
    job_id = "'job_' || substr('000000000000' || i, -12, 12)"
    tags = """CASE i % 3 WHEN 0 THEN '{}' ELSE '{"project": "p' || (i % 7) || '"}' END"""
    if database.is_sqlite:
        created = (
            f"strftime('%Y-%m-%d %H:%M:%S.000000', '2026-11-01', "
            f"'+' || ((i / {TEAMS}) % {DAYS}) || ' days', '+' || ((i * 37) % 86400) || ' seconds')"
        )
        ended = f"strftime('%Y-%m-%d %H:%M:%S.000000', {created}, '+300 seconds')"
        source = (
            f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {jobs - 1})"
            f" SELECT {_job_values(job_id, created, ended, tags)} FROM s"
        )
        statement = f"INSERT INTO jobs ({_JOB_COLUMNS}) {source}"
    else:
        created = (
            f"(TIMESTAMPTZ '2026-11-01 00:00:00+00' + ((i / {TEAMS}) % {DAYS}) * INTERVAL '1 day'"
            f" + ((i * 37) % 86400) * INTERVAL '1 second')"
        )
        ended = f"({created} + INTERVAL '5 minutes')"
        values = _job_values("'job_' || lpad(i::text, 12, '0')", created, ended, f"{tags}::json")
        statement = (
            f"INSERT INTO jobs ({_JOB_COLUMNS}) SELECT {values} "
            f"FROM generate_series(0, {jobs - 1}) AS i"
        )
    day = "date(created_at)" if database.is_sqlite else "CAST(timezone('UTC', created_at) AS DATE)"
    rollups = (
        "INSERT INTO spend_rollups (team_id, day, endpoint, model, key_id, jobs, held, spent, "
        f"released) SELECT team_id, {day}, endpoint, COALESCE(model, ''), COALESCE(key_id, ''), "
        "COUNT(*), SUM(held_credits), SUM(COALESCE(charged_credits, 0)), SUM(released_credits) "
        f"FROM jobs GROUP BY team_id, {day}, endpoint, COALESCE(model, ''), COALESCE(key_id, '')"
    )
    with database.engine.begin() as connection:
        connection.execute(text(statement))
        connection.execute(text(rollups))
    with database.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def _fill_teams(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            insert(Team),
            [
                {
                    "id": t,
                    "slug": f"team-{t:02d}",
                    "name": f"Team {t}",
                    "budget_credits": 10_000_000,
                    "period": "month",
                    "alert_thresholds": [50, 80, 100],
                    "created_at": START,
                    "updated_at": START,
                }
                for t in range(1, TEAMS + 1)
            ],
        )
        connection.execute(
            insert(Balance),
            [
                {
                    "id": t,
                    "team_id": t,
                    "period": "month",
                    "period_start": START,
                    "period_end": END,
                    "budget": 10_000_000,
                    "adjustments": 0,
                    "held": 0,
                    "spent": 0,
                }
                for t in range(1, TEAMS + 1)
            ],
        )
        connection.execute(
            insert(ApiKey),
            [
                {
                    "id": f"key_{k}",
                    "team_id": k // 2 + 1,
                    "prefix": f"mhl_{k:08d}",
                    "key_hash": hashlib.sha256(str(k).encode()).hexdigest(),
                    "created_at": START,
                }
                for k in range(KEYS)
            ],
        )


def _time(database: Database, group_by: list[str], runs: int) -> tuple[float, int]:
    timings = []
    rows = 0
    for _ in range(runs):
        began = time.perf_counter()
        with database.read() as session:
            report = reports.spend_report(session, start=START, end=END, group_by=group_by, now=NOW)
        timings.append((time.perf_counter() - began) * 1000)
        rows = len(report.rows)
    return statistics.median(timings), rows


def bench(name: str, url: str, jobs: int, runs: int) -> None:
    database = Database(url)
    try:
        db.upgrade(database)
        began = time.perf_counter()
        _fill_teams(database)
        _fill_jobs(database, jobs)
        loaded = time.perf_counter() - began
        with database.engine.connect() as connection:
            counted = connection.execute(text("SELECT COUNT(*) FROM jobs")).scalar_one()
            rollups = connection.execute(text("SELECT COUNT(*) FROM spend_rollups")).scalar_one()
        _time(database, ["team", "day"], 1)  # warm the caches and the pool
        median, rows = _time(database, ["team", "day"], runs)
        tag_median, tag_rows = _time(database, ["team", "tag:project"], 1)
        print(
            f"{name}: {counted:,} jobs, {rollups:,} rollup rows (loaded in {loaded:.0f} s); "
            f"team x day for November: {rows} rows, median {median:.1f} ms of {runs} runs; "
            f"team x tag:project from the jobs table: {tag_rows} rows, {tag_median:.0f} ms"
        )
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=POSTGRES, help="admin URL of a PostgreSQL server")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as directory:
            bench("SQLite", f"sqlite:///{Path(directory) / 'bench.db'}", args.jobs, args.runs)
    if "postgresql" in backends:
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{SCRATCH}"'))
        url = make_url(args.postgres).set(database=SCRATCH).render_as_string(hide_password=False)
        try:
            bench("PostgreSQL", url, args.jobs, args.runs)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()

"""Spend reports equal the journal's sums for every grouping; rollups are audited; forecasts."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text

from ledger import accounting, audit, db, reports, teams
from ledger.cli import main
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.models import Account, Entry, Job, Team

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def build_ledger(database: Database) -> None:
    """Three teams (month, week and none periods), keys, and jobs over several days, endpoints,
    models, keys and tags: settled below and above the hold, released, adjusted up and down,
    left open; one in October, one in December."""
    with database.write() as session:
        acme = teams.create_team(session, "acme", budget_credits=100_000, now=at(20, month=10))
        zeta = teams.create_team(
            session, "zeta", budget_credits=50_000, period="week", now=at(20, month=10)
        )
        omega = teams.create_team(
            session, "omega", budget_credits=9_000, period="none", now=at(20, month=10)
        )
        keys = {
            "a1": teams.create_key(session, "acme", label="a1").key,
            "a2": teams.create_key(session, "acme", label="a2").key,
            "z1": teams.create_key(session, "zeta", label="z1").key,
        }
        ids = {t.slug: t.id for t in (acme, zeta, omega)}
    plan: list[tuple[str, str | None, str, str | None, dict[str, str], datetime, int, str]] = [
        # team, key, endpoint, model, tags, created, credits, what happens
        ("acme", "a1", "image-to-video", None, {"project": "launch"}, at(3), 150, "settle:120"),
        ("acme", "a1", "image-to-video", None, {"project": "launch"}, at(3, 23), 90, "settle:130"),
        ("acme", "a2", "text-to-video", "kling", {"project": "=cmd()"}, at(10), 300, "release"),
        ("acme", "a2", "ai-image-generator", "pro", {}, at(10, 0), 40, "adjust:60,settle:60"),
        ("acme", None, "ai-image-generator", "pro", {"env": "prod"}, at(24, 9), 80, "open"),
        ("acme", "a1", "text-to-video", "kling", {"env": "prod"}, at(24, 11), 70, "adjust:50"),
        ("acme", "a1", "image-to-video", None, {}, at(31, month=10), 500, "settle:500"),
        ("zeta", "z1", "image-to-video", None, {"project": "launch"}, at(5), 200, "settle:0"),
        ("zeta", "z1", "lip-sync", None, {"project": "beta", "env": "dev"}, at(17), 120, "open"),
        ("zeta", None, "lip-sync", None, {}, at(17, 3), 0, "settle:10"),
        ("zeta", "z1", "text-to-video", "kling", {}, at(23, 22), 60, "adjust:20,release"),
        ("omega", None, "ai-image-generator", None, {"project": "launch"}, at(11), 30, "open"),
        ("omega", None, "face-swap", None, {}, at(1, 0), 25, "settle:25"),
        ("omega", None, "face-swap", None, {}, at(1, 0, month=12), 25, "settle:25"),
    ]
    for team, key, endpoint, model, tags, created, credits, script in plan:
        with database.write() as session:
            job = accounting.reserve(
                session,
                ids[team],
                credits,
                endpoint=endpoint,
                kind="video",
                model=model,
                key=keys[key] if key else None,
                tags=tags,
                now=created,
            )
            job_id = job.id
        for step in script.split(","):
            what, _, amount = step.partition(":")
            later = created + timedelta(hours=5)  # ends later, perhaps on another day
            with database.write() as session:
                if what == "settle":
                    accounting.settle(session, job_id, int(amount), now=later)
                elif what == "release":
                    accounting.release(session, job_id, now=later)
                elif what == "adjust":
                    accounting.adjust_hold(session, job_id, int(amount), now=created)


@pytest.fixture
def ledger_db(database: Database) -> Database:
    build_ledger(database)
    return database


def journal_report(
    database: Database, start: datetime, end: datetime, group_by: list[str]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The report computed the slow way: from the journal, job by job."""
    with database.read() as session:
        slugs = dict(session.execute(select(Team.id, Team.slug)).all())
        per_job: dict[str, Counter[str]] = defaultdict(Counter)
        for entry in session.scalars(select(Entry).where(Entry.job_id.is_not(None))):
            sums = per_job[entry.job_id]
            flow = (entry.from_account, entry.to_account)
            if entry.to_account == Account.HELD:
                sums["held"] += entry.credits
            if entry.from_account == Account.HELD:
                sums["held"] -= entry.credits
            if entry.to_account == Account.SPENT:
                sums["spent"] += entry.credits
            if flow == (Account.HELD, Account.AVAILABLE):
                sums["released"] += entry.credits
        groups: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        for job in session.scalars(select(Job)):
            if not start <= job.created_at < end:
                continue
            day = job.created_at.date()
            values = {
                "team": slugs[job.team_id],
                "day": day.isoformat(),
                "week": (day - timedelta(days=day.weekday())).isoformat(),
                "month": day.strftime("%Y-%m"),
                "endpoint": job.endpoint,
                "model": job.model,
                "key": job.key_id,
            }
            key = tuple(
                (job.tags or {}).get(d[4:]) if d.startswith("tag:") else values[d] for d in group_by
            )
            group = groups[key]
            group["jobs"] += 1
            for measure in ("held", "spent", "released"):
                group[measure] += per_job[job.id][measure]
    rows = [
        dict(zip(group_by, key, strict=True))
        | {m: sums[m] for m in ("jobs", "held", "spent", "released")}
        for key, sums in sorted(
            groups.items(), key=lambda item: [(v is None, v or "") for v in item[0]]
        )
    ]
    totals = {m: sum(r[m] for r in rows) for m in ("jobs", "held", "spent", "released")}
    return rows, totals


GROUPINGS = [
    ["team"],
    ["day"],
    ["week"],
    ["month"],
    ["endpoint"],
    ["model"],
    ["key"],
    ["tag:project"],
    ["team", "day"],
    ["day", "team"],
    ["team", "endpoint", "model"],
    ["month", "key"],
    ["week", "tag:project"],
    ["tag:project", "tag:env"],
    ["team", "day", "week", "month", "endpoint", "model", "key"],
]
WINDOWS = [
    NOVEMBER,
    (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    # Not whole days: the edges come from the jobs table, the middle from the rollups.
    (at(3, 12), at(24, 10)),
    (at(10, 0), at(10, 5)),
]


@pytest.mark.parametrize("group_by", GROUPINGS, ids=",".join)
def test_report_rows_and_totals_equal_the_journal(ledger_db: Database, group_by) -> None:
    for start, end in WINDOWS:
        expected_rows, expected_totals = journal_report(ledger_db, start, end, group_by)
        with ledger_db.read() as session:
            report = reports.spend_report(session, start=start, end=end, group_by=group_by, now=NOW)
        assert report.rows == expected_rows, (start, end)
        assert {m: report.totals[m] for m in expected_totals} == expected_totals
        assert report.totals["jobs"] > 0
        # The CSV says the same: header, the rows, a total row; numbers as numbers.
        parsed = list(csv.reader(io.StringIO(report.as_csv())))
        assert parsed[0] == [*group_by, "jobs", "held", "spent", "released"]
        assert len(parsed) == len(expected_rows) + 2
        assert parsed[-1][0] == "total"
        assert [int(v) for v in parsed[-1][len(group_by) :]] == list(expected_totals.values())
        for line, row in zip(parsed[1:-1], expected_rows, strict=True):
            assert [int(v) for v in line[len(group_by) :]] == [
                row[m] for m in ("jobs", "held", "spent", "released")
            ]


def test_a_team_filter_and_the_default_window(ledger_db: Database) -> None:
    with ledger_db.read() as session:
        zeta = teams.get_team(session, "zeta")
        report = reports.spend_report(session, group_by=["team", "day"], team_id=zeta.id, now=NOW)
    rows, _ = journal_report(ledger_db, *NOVEMBER, ["team", "day"])
    assert (report.start, report.end) == NOVEMBER
    assert report.rows == [r for r in rows if r["team"] == "zeta"]
    assert {r["team"] for r in report.rows} == {"zeta"}
    assert report.totals["spent"] == sum(r["spent"] for r in rows if r["team"] == "zeta")
    assert report.as_json()["totals"]["forecast"].keys() == {
        "burn_rate_per_day",
        "projected_run_out",
    }


def test_the_numbers_by_hand(ledger_db: Database) -> None:
    with ledger_db.read() as session:
        report = reports.spend_report(
            session, start=at(10, 0), end=at(11, 0), group_by=["endpoint"], usd_per_credit=0.0125
        )
    assert report.rows == [
        # adjusted 40 -> 60 (hold_increase), settled at 60
        {"endpoint": "ai-image-generator", "jobs": 1, "held": 0, "spent": 60, "released": 0,
         "usd": 0.75},
        # released 300
        {"endpoint": "text-to-video", "jobs": 1, "held": 0, "spent": 0, "released": 300,
         "usd": 0.0},
    ]  # fmt: skip
    assert report.totals == {"jobs": 2, "held": 0, "spent": 60, "released": 300, "usd": 0.75}
    assert report.columns[-1] == "usd"


def test_csv_is_safe_in_a_spreadsheet(ledger_db: Database) -> None:
    with ledger_db.read() as session:
        report = reports.spend_report(
            session, start=NOVEMBER[0], end=NOVEMBER[1], group_by=["tag:project", "model"]
        )
    body = report.as_csv()
    assert body.endswith("\r\n") and "\r\n" in body
    cells = [cell for line in csv.reader(io.StringIO(body)) for cell in line]
    assert "'=cmd()" in cells and "=cmd()" not in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


@pytest.mark.parametrize(
    "group_by",
    [[], ["team", "team"], ["colour"], ["tag:"], ["tag:a b"], ["tag:x,y"], ["Team"]],
)
def test_bad_groupings_are_refused(database: Database, group_by) -> None:
    with database.read() as session, pytest.raises(InvalidInput):
        reports.spend_report(session, group_by=group_by)


def test_bad_windows_are_refused(database: Database) -> None:
    with database.read() as session, pytest.raises(InvalidInput, match="before"):
        reports.spend_report(session, start=at(5), end=at(5))
    with pytest.raises(InvalidInput):
        reports.parse_moment("2026-13-01", "from")
    assert reports.parse_group_by(None) == ["team"]
    assert reports.parse_group_by("team, day,tag:env") == ["team", "day", "tag:env"]


# -- rollups and the audit ---------------------------------------------------------------------


def violations(database: Database) -> list[str]:
    with database.read() as session:
        return audit.run(session).violations


def test_the_audit_passes_and_finds_a_tampered_rollup(ledger_db: Database) -> None:
    assert violations(ledger_db) == []
    with ledger_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE spend_rollups SET spent = spent + 7 WHERE endpoint = 'face-swap'")
        )
    found = violations(ledger_db)
    assert len(found) == 2  # one per tampered row: 1 November and 1 December
    assert all("rollup of team omega" in line and "spent is" in line for line in found)


def test_the_audit_finds_a_tampered_released_credits_and_a_missing_rollup(
    ledger_db: Database,
) -> None:
    with ledger_db.engine.begin() as connection:
        connection.execute(text("UPDATE jobs SET released_credits = released_credits + 1"))
        connection.execute(text("DELETE FROM spend_rollups WHERE endpoint = 'lip-sync'"))
    found = violations(ledger_db)
    assert sum("released_credits is" in line for line in found) == 14
    assert any("rollup of team zeta" in line and "jobs is 0" in line for line in found)


def test_an_upgrade_from_before_rollups_derives_them(ledger_db: Database) -> None:
    url = ledger_db.url.render_as_string(hide_password=False)
    everything = ["team", "day", "endpoint", "model", "key"]
    with ledger_db.read() as session:
        before = reports.spend_report(session, start=NOVEMBER[0], end=NOVEMBER[1],
                                      group_by=everything)  # fmt: skip
    command.downgrade(db.alembic_config(url), "0003")
    ledger_db.engine.dispose()
    db.ensure_schema(ledger_db)
    assert violations(ledger_db) == []
    with ledger_db.read() as session:
        after = reports.spend_report(session, start=NOVEMBER[0], end=NOVEMBER[1],
                                     group_by=everything)  # fmt: skip
    assert after.rows == before.rows


# -- forecast ----------------------------------------------------------------------------------


def test_the_forecast(ledger_db: Database) -> None:
    now = at(25, 12)
    with ledger_db.read() as session:
        acme, zeta, omega = (teams.get_team(session, s) for s in ("acme", "zeta", "omega"))
        result = reports.forecasts(session, [acme, zeta, omega], now=now)
    # acme's jobs of the 7 days before the 25th: the open 80 and the adjusted, open 50 (both on
    # the 24th); at 18.57 a day its monthly 100,000 outlasts the month.
    assert result[acme.id] == reports.Forecast(18.57, None)
    # zeta's jobs since 18 November were released; omega has none.
    assert result[zeta.id] == reports.Forecast(0.0, None)
    assert result[omega.id] == reports.Forecast(0.0, None)
    assert result[acme.id].as_json() == {"burn_rate_per_day": 18.57, "projected_run_out": None}


def test_a_forecast_runs_out_and_a_team_below_zero_has_run_out(database: Database) -> None:
    with database.write() as session:
        small = teams.create_team(session, "small", budget_credits=1000, period="none", now=at(1))
        accounting.reserve(session, small.id, 700, endpoint="x", kind="video", now=at(20))
    with database.read() as session:
        small = teams.get_team(session, "small")
        # 700 over 7 days is 100 a day; 300 left: three days.
        assert reports.forecasts(session, [small], now=at(21))[small.id] == reports.Forecast(
            100.0, date(2026, 11, 24)
        )
    with database.write() as session:
        accounting.adjust(session, small, -400, "taken back", now=at(21))
    with database.read() as session:
        assert reports.forecasts(session, [small], now=at(21))[small.id].projected_run_out == (
            date(2026, 11, 21)
        )


# -- the CLI -----------------------------------------------------------------------------------


def run_cli(database: Database, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("LEDGER_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("LEDGER_USD_PER_CREDIT", "0.01")
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_the_cli_prints_the_same_numbers(ledger_db: Database, monkeypatch, capsys) -> None:
    window = ["--from", "2026-11-01", "--to", "2026-12-01"]
    rows, totals = journal_report(ledger_db, *NOVEMBER, ["team", "day"])
    code, out, _ = run_cli(ledger_db, monkeypatch, capsys, "report", *window,
                           "--group-by", "team,day", "--format", "json")  # fmt: skip
    assert code == 0
    document = json.loads(out)
    assert [{k: r[k] for k in rows[0]} for r in document["rows"]] == rows
    assert all(r["usd"] == r["spent"] / 100 for r in document["rows"])
    assert {k: document["totals"][k] for k in totals} == totals
    assert document["from"] == "2026-11-01T00:00:00Z" and document["to"] == "2026-12-01T00:00:00Z"
    assert set(document["forecast"]) == {"acme", "zeta", "omega"}

    code, out, _ = run_cli(ledger_db, monkeypatch, capsys, "report", *window,
                           "--group-by", "team,day", "--format", "csv")  # fmt: skip
    parsed = list(csv.reader(io.StringIO(out)))
    assert parsed[0] == ["team", "day", "jobs", "held", "spent", "released", "usd"]
    assert [line[:2] + [int(v) for v in line[2:6]] for line in parsed[1:-1]] == [
        [r["team"], r["day"], r["jobs"], r["held"], r["spent"], r["released"]] for r in rows
    ]

    code, out, _ = run_cli(ledger_db, monkeypatch, capsys, "report", *window,
                           "--group-by", "team,day", "--team", "zeta")  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("spend from 2026-11-01 00:00 to 2026-12-01 00:00")
    zeta = [r for r in rows if r["team"] == "zeta"]
    body = [line.split() for line in lines[2 : 2 + len(zeta)]]
    assert body == [
        [r["team"], r["day"], *(str(r[m]) for m in ("jobs", "held", "spent", "released")),
         str(r["spent"] / 100)]
        for r in zeta
    ]  # fmt: skip
    total = lines[2 + len(zeta)].split()
    assert total[:2] == ["total", "-"] and int(total[4]) == sum(r["spent"] for r in zeta)
    assert any(line.startswith("forecast zeta:") for line in lines)


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--group-by", "team,colour"], 2),
        (["--from", "yesterday"], 2),
        (["--from", "2026-12-01", "--to", "2026-11-01"], 1),
        (["--team", "nobody"], 1),
    ],
)
def test_the_cli_refuses_bad_input(database: Database, monkeypatch, capsys, args, exit_code):
    code, out, err = run_cli(database, monkeypatch, capsys, "report", *args)
    assert code == exit_code and out == "" and len(err.strip().splitlines()) == 1

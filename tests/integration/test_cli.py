"""The CLI as a user types it: outcomes, one-line errors, exit codes, nothing changed on error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from ledger.db import Database
from ledger.models import ApiKey, Balance, Entry, Team


def state(database: Database) -> tuple:
    with database.read() as session:
        counts = [
            session.scalar(select(func.count()).select_from(model))
            for model in (Team, ApiKey, Balance, Entry)
        ]
        return (
            *counts,
            session.execute(
                select(Team.slug, Team.budget_credits, Team.period, Team.max_credits_per_request)
            ).all(),
            session.execute(select(ApiKey.id, ApiKey.revoked_at)).all(),
        )


def test_teams_and_keys_round_trip(ledger_cli, database: Database) -> None:
    code, out, _ = ledger_cli("teams", "create", "acme", "--budget", "1000", "--json")
    assert code == 0
    created = json.loads(out)
    assert (created["slug"], created["budget"], created["available"]) == ("acme", 1000, 1000)

    code, out, err = ledger_cli("keys", "create", "acme", "--label", "ci")
    secret = out.strip()
    assert code == 0 and secret.startswith("mhl_") and "only time" in err
    code, out, _ = ledger_cli("keys", "list", "acme", "--json")
    [key] = json.loads(out)
    assert key["prefix"] == secret[:12] and secret not in out and key["revoked_at"] is None

    code, out, _ = ledger_cli("teams", "update", "acme", "--budget", "400", "--period", "week")
    assert code == 0 and "week" in out
    code, out, _ = ledger_cli("teams", "adjust", "acme", "--credits", "-50", "--reason", "fix")
    assert code == 0 and "available now 350" in out
    code, out, _ = ledger_cli("teams", "show", "acme", "--json")
    shown = json.loads(out)
    assert (shown["budget"], shown["adjustments"], shown["available"]) == (400, -50, 350)
    code, out, _ = ledger_cli("teams", "list")
    assert code == 0 and out.splitlines()[0].startswith("slug") and "acme" in out

    code, out, _ = ledger_cli("keys", "revoke", key["id"])
    assert code == 0 and "revoked" in out
    code, out, _ = ledger_cli("audit")
    assert code == 0 and out.startswith("audit passed")


BAD_INPUT = [
    # (arguments, exit code, what the one line says)
    (["teams", "create", "acme", "--budget", "-5"], 2, "--budget"),
    (["teams", "create", "acme", "--budget", "ten"], 2, "--budget"),
    (["teams", "create", "acme"], 2, "Missing option '--budget'"),
    (["teams", "create", "acme", "--budget", "5", "--period", "year"], 2, "--period"),
    (["teams", "create", "Bad_Slug", "--budget", "5"], 1, "slug must be"),
    (["teams", "create", "taken", "--budget", "5"], 1, "already exists"),
    (["teams", "create", "x", "--budget", "5", "--max-per-request", "0"], 2, "--max-per-request"),
    (["teams", "show", "nope"], 1, "no team 'nope'"),
    (["teams", "update", "nope", "--budget", "5"], 1, "no team 'nope'"),
    (["teams", "update", "taken", "--budget", "-1"], 2, "--budget"),
    (["teams", "update", "taken", "--period", "fortnight"], 2, "--period"),
    (["teams", "update", "taken"], 2, "nothing to change"),
    (["teams", "adjust", "taken", "--credits", "0", "--reason", "x"], 1, "non-zero"),
    (["teams", "adjust", "taken", "--credits", "1.5", "--reason", "x"], 2, "--credits"),
    (["teams", "adjust", "taken", "--credits", "5", "--reason", " "], 1, "reason"),
    (["teams", "adjust", "nope", "--credits", "5", "--reason", "x"], 1, "no team 'nope'"),
    (["keys", "create", "nope"], 1, "no team 'nope'"),
    (["keys", "list", "nope"], 1, "no team 'nope'"),
    (["keys", "revoke", "key_nope"], 1, "no key 'key_nope'"),
    (["teams", "frobnicate"], 2, "No such command"),
    (["drift"], 1, "not enough account snapshots"),
    (["drift", "--from", "yesterday"], 2, "--from must be an ISO 8601 date"),  # bad usage
]


@pytest.mark.parametrize(("args", "exit_code", "message"), BAD_INPUT, ids=lambda v: str(v))
def test_bad_input_gets_one_line_and_changes_nothing(
    ledger_cli, database: Database, args: list[str], exit_code: int, message: str
) -> None:
    assert ledger_cli("teams", "create", "taken", "--budget", "100")[0] == 0
    before = state(database)
    code, out, err = ledger_cli(*args)
    assert code == exit_code
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert state(database) == before


def test_a_bad_setting_stops_the_program_with_one_line(ledger_cli, monkeypatch) -> None:
    monkeypatch.setenv("LEDGER_POLL_INTERVAL", "soon")
    code, out, err = ledger_cli("teams", "list")
    assert (code, out) == (1, "")
    assert err.strip() == "ledger: bad setting: LEDGER_POLL_INTERVAL: must be a number, got 'soon'"


def test_the_installed_command_runs_from_any_directory(tmp_path, database: Database) -> None:
    env = {**os.environ, "LEDGER_DATABASE_URL": database.url.render_as_string(hide_password=False)}
    for command in (["ledger"], [sys.executable, "-m", "ledger"]):
        done = subprocess.run(
            [*command, "db", "current"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "(newest)" in done.stdout
    done = subprocess.run(
        ["ledger", "--help"],
        cwd=tmp_path,
        env={**env, "LEDGER_POLL_INTERVAL": "x"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "teams" in done.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("report", "--to", "9999-12-31"),
        ("report", "--from", "0001-01-01T00:00:00+14:00"),
        ("drift", "--to", "9999-12-31"),
        ("drift", "--from", "0001-01-01T00:00:00+14:00"),
        ("pricing", "check", "--to", "9999-12-31"),
        ("pricing", "check", "--from", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_dates_that_overflow_are_a_usage_error_in_one_line(ledger_cli, command) -> None:
    code, out, err = ledger_cli(*command)
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert "must be between 1970-01-01 and 9999-01-01" in line and command[-2] in line

"""``ledger audit`` finds tampering: a changed cached balance, a deleted entry, a plain key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from ledger import accounting, audit, teams
from ledger.cli import main
from ledger.db import Database

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def busy_ledger(database: Database) -> Database:
    """Two teams with open, settled and released holds and an adjustment."""
    with database.write() as session:
        acme = teams.create_team(session, "acme", budget_credits=1000, now=NOW)
        teams.create_team(session, "zeta", budget_credits=500, period="day", now=NOW)
        teams.create_key(session, "acme", label="ci")
        accounting.adjust(session, acme, 25, "goodwill", now=NOW)
    jobs = []
    for credits in (150, 300, 90, 60):
        with database.write() as session:
            jobs.append(
                accounting.reserve(
                    session, 1, credits, endpoint="image-to-video", kind="video", now=NOW
                )
            )
    with database.write() as session:
        accounting.settle(session, jobs[0].id, 120, now=NOW)
        accounting.settle(session, jobs[1].id, 330, now=NOW)
        accounting.release(session, jobs[2].id, now=NOW)
    return database


def violations(database: Database, **options) -> list[str]:
    with database.read() as session:
        return audit.run(session, **options).violations


def run_cli(database: Database, capsys: pytest.CaptureFixture[str], monkeypatch) -> tuple:
    monkeypatch.setenv("LEDGER_DATABASE_URL", database.url.render_as_string(hide_password=False))
    with pytest.raises(SystemExit) as exited:
        main(["audit"])
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def _drop_append_only_guard(database: Database) -> None:
    """What someone with raw database access could do before editing the journal."""
    with database.engine.begin() as connection:
        if database.is_sqlite:
            connection.execute(text("DROP TRIGGER entries_no_delete"))
        else:
            connection.execute(text("DROP TRIGGER entries_append_only ON entries"))


def test_a_sound_ledger_passes(busy_ledger: Database, capsys, monkeypatch) -> None:
    assert violations(busy_ledger) == []
    code, out, _ = run_cli(busy_ledger, capsys, monkeypatch)
    assert code == 0
    assert out.startswith("audit passed: 2 teams")


def test_a_tampered_cached_balance_fails_the_audit(busy_ledger, capsys, monkeypatch) -> None:
    with busy_ledger.engine.begin() as connection:
        connection.execute(text("UPDATE balances SET held = held + 7 WHERE team_id = 1"))
    found = violations(busy_ledger)
    assert any("cached held is 67 but the journal sums to 60" in v for v in found), found
    assert any("held 67 but open holds sum to 60" in v for v in found), found
    code, out, err = run_cli(busy_ledger, capsys, monkeypatch)
    assert code == 1
    assert "team acme period month from 2026-11-01: cached held is 67" in out
    assert "audit failed" in err


def test_a_deleted_journal_row_fails_the_audit(busy_ledger, capsys, monkeypatch) -> None:
    _drop_append_only_guard(busy_ledger)
    with busy_ledger.engine.begin() as connection:
        connection.execute(text("DELETE FROM entries WHERE kind = 'return'"))
    found = violations(busy_ledger)
    assert any("cached held is 60 but the journal sums to 90" in v for v in found), found
    assert any("holds 0 but its entries hold 30" in v for v in found), found
    code, out, _ = run_cli(busy_ledger, capsys, monkeypatch)
    assert code == 1
    assert len(out.strip().splitlines()) == len(found)


def test_an_overspent_hold_in_the_journal_fails_the_audit(busy_ledger: Database) -> None:
    # A reserve larger than what was available, written around the accounting core.
    with busy_ledger.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO jobs (id, team_id, balance_id, endpoint, kind, status,"
                " estimated_credits, held_credits, tags, created_at) VALUES ('job_forged', 2, 2,"
                " 'image-to-video', 'video', 'reserved', 900, 900, '{}', :now)"
            ),
            {"now": NOW.replace(tzinfo=None) if busy_ledger.is_sqlite else NOW},
        )
        connection.execute(
            text(
                "INSERT INTO entries (team_id, balance_id, job_id, kind, from_account,"
                " to_account, credits, created_at) VALUES (2, 2, 'job_forged', 'reserve',"
                " 'available', 'held', 900, :now)"
            ),
            {"now": NOW.replace(tzinfo=None) if busy_ledger.is_sqlite else NOW},
        )
        connection.execute(text("UPDATE balances SET held = held + 900 WHERE id = 2"))
    found = violations(busy_ledger)
    assert [v for v in found if "accepted" in v] == [
        f"entry {found_entry_id(busy_ledger)} (reserve, team zeta period day from 2026-11-24): "
        "hold of 900 accepted with only 500 available"
    ]


def found_entry_id(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM entries WHERE job_id = 'job_forged'")
        ).scalar_one()


def test_a_key_stored_in_plain_text_fails_the_audit(busy_ledger: Database) -> None:
    with busy_ledger.engine.begin() as connection:
        connection.execute(text("UPDATE api_keys SET key_hash = 'mhl_" + "a" * 40 + "'"))
        connection.execute(text("UPDATE teams SET name = 'see mhl_" + "b" * 43 + "'"))
    found = violations(busy_ledger, secrets=["upstream-secret-123"])
    assert any("stored value is not a SHA-256 hash" in v for v in found), found
    assert any("teams 1: stores a team key in plain text" in v for v in found), found
    with busy_ledger.engine.begin() as connection:
        connection.execute(text("UPDATE teams SET name = 'upstream-secret-123' WHERE id = 2"))
    found = violations(busy_ledger, secrets=["upstream-secret-123"])
    assert any("teams 2: stores a configured secret in plain text" in v for v in found), found

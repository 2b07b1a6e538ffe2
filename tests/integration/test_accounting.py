"""The money core against a real database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger import accounting, audit, teams
from ledger.db import Database
from ledger.errors import BudgetExceeded, HoldEnded, InvalidInput, NotFound
from ledger.models import Balance, Entry, EntryKind, Job, JobStatus, Team

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def make_team(database: Database, slug: str = "acme", budget: int = 1000, **options) -> int:
    with database.write() as session:
        return teams.create_team(session, slug, budget_credits=budget, now=NOW, **options).id


def balance(database: Database, team_id: int, at: datetime = NOW) -> accounting.BalanceView:
    with database.read() as session:
        team = session.get(Team, team_id)
        assert team is not None
        return accounting.balance_of(session, team, now=at)


def reserve(database: Database, team_id: int, credits: int, **options) -> Job:
    with database.write() as session:
        return accounting.reserve(
            session, team_id, credits, endpoint="image-to-video", kind="video", now=NOW, **options
        )


def snapshot(database: Database) -> tuple:
    """Everything money-related, to show that a refused operation changed nothing."""
    with database.read() as session:
        return (
            session.execute(
                select(
                    Balance.id, Balance.budget, Balance.adjustments, Balance.held, Balance.spent
                ).order_by(Balance.id)
            ).all(),
            session.scalar(select(func.count()).select_from(Entry)),
            session.execute(select(Job.id, Job.status, Job.held_credits).order_by(Job.id)).all(),
        )


def assert_audit_clean(database: Database) -> None:
    with database.read() as session:
        assert audit.run(session).violations == []


def test_a_new_team_has_its_budget_available(database: Database) -> None:
    team_id = make_team(database, budget=1000)
    view = balance(database, team_id)
    assert (view.budget, view.held, view.spent, view.available) == (1000, 0, 0, 1000)
    assert view.period == "month"
    assert view.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert view.period_end == datetime(2026, 12, 1, tzinfo=UTC)
    assert_audit_clean(database)


def test_a_hold_exactly_at_the_available_credits_fits(database: Database) -> None:
    team_id = make_team(database, budget=150)
    job = reserve(database, team_id, 150)
    assert job.status == JobStatus.RESERVED
    view = balance(database, team_id)
    assert (view.held, view.available) == (150, 0)
    assert_audit_clean(database)


def test_a_hold_over_the_available_credits_is_refused_and_changes_nothing(
    database: Database,
) -> None:
    team_id = make_team(database, budget=150)
    reserve(database, team_id, 100)
    before = snapshot(database)
    with pytest.raises(BudgetExceeded) as refused:
        reserve(database, team_id, 51)
    assert refused.value.details == {
        "team": "acme",
        "estimated_credits": 51,
        "available_credits": 50,
    }
    assert snapshot(database) == before


def test_per_request_caps_of_team_and_key_refuse_larger_holds(database: Database) -> None:
    team_id = make_team(database, budget=10_000, max_credits_per_request=500)
    with database.write() as session:
        key = teams.create_key(session, "acme", max_credits_per_request=200).key
    before = snapshot(database)
    with pytest.raises(BudgetExceeded, match="team's max_credits_per_request of 500"):
        reserve(database, team_id, 501)
    with pytest.raises(BudgetExceeded, match="key's max_credits_per_request of 200"):
        reserve(database, team_id, 201, key=key)
    assert snapshot(database) == before
    assert reserve(database, team_id, 200, key=key).held_credits == 200


def test_settle_below_the_hold_returns_the_rest(database: Database) -> None:
    team_id = make_team(database, budget=1000)
    job = reserve(database, team_id, 150)
    with database.write() as session:
        settled = accounting.settle(session, job.id, 120, now=NOW)
    assert (settled.status, settled.charged_credits, settled.held_credits) == ("settled", 120, 0)
    assert settled.flag is None
    view = balance(database, team_id)
    assert (view.held, view.spent, view.available) == (0, 120, 880)
    assert_audit_clean(database)


def test_settle_above_the_hold_is_charged_as_an_overrun(database: Database) -> None:
    team_id = make_team(database, budget=100)
    job = reserve(database, team_id, 100)
    with database.write() as session:
        settled = accounting.settle(session, job.id, 130, now=NOW)
    assert settled.flag == "overrun"
    view = balance(database, team_id)
    assert (view.held, view.spent, view.available) == (0, 130, -30)
    with database.read() as session:
        kinds = session.scalars(select(Entry.kind).where(Entry.job_id == job.id)).all()
    assert sorted(kinds) == ["overrun", "reserve", "settle"]
    # Below zero, nothing more fits, not even a free request.
    with pytest.raises(BudgetExceeded):
        reserve(database, team_id, 0)
    assert_audit_clean(database)


def test_release_returns_the_whole_hold(database: Database) -> None:
    team_id = make_team(database, budget=1000)
    job = reserve(database, team_id, 300)
    with database.write() as session:
        released = accounting.release(session, job.id, now=NOW)
    assert (released.status, released.held_credits, released.charged_credits) == (
        "released",
        0,
        None,
    )
    assert balance(database, team_id).available == 1000
    assert_audit_clean(database)


def test_adjust_hold_follows_the_upstream_charge(database: Database) -> None:
    team_id = make_team(database, budget=1000)
    job = reserve(database, team_id, 150)
    with database.write() as session:
        accounting.adjust_hold(session, job.id, 120, now=NOW)
    assert balance(database, team_id).held == 120
    with database.write() as session:
        adjusted = accounting.adjust_hold(session, job.id, 200, now=NOW)
    assert adjusted.flag == "under_reserved"  # upstream charged more than we estimated
    assert (balance(database, team_id).held, balance(database, team_id).available) == (200, 800)
    with database.write() as session:
        accounting.settle(session, job.id, 200, now=NOW)
    view = balance(database, team_id)
    assert (view.held, view.spent) == (0, 200)
    assert_audit_clean(database)


@pytest.mark.parametrize("first", ["settle", "release"])
@pytest.mark.parametrize("second", ["settle", "release", "adjust_hold"])
def test_a_hold_ends_once(database: Database, first: str, second: str) -> None:
    team_id = make_team(database)
    job = reserve(database, team_id, 100)
    operations = {
        "settle": lambda s: accounting.settle(s, job.id, 90, now=NOW),
        "release": lambda s: accounting.release(s, job.id, now=NOW),
        "adjust_hold": lambda s: accounting.adjust_hold(s, job.id, 50, now=NOW),
    }
    with database.write() as session:
        operations[first](session)
    before = snapshot(database)
    with pytest.raises(HoldEnded), database.write() as session:
        operations[second](session)
    assert snapshot(database) == before
    assert_audit_clean(database)


def test_the_database_refuses_a_second_ending_even_if_the_code_tried(database: Database) -> None:
    team_id = make_team(database)
    job = reserve(database, team_id, 100)
    with database.write() as session:
        accounting.settle(session, job.id, 100, now=NOW)
    with pytest.raises(IntegrityError), database.write() as session:
        session.execute(
            insert(Entry).values(
                team_id=team_id,
                balance_id=job.balance_id,
                job_id=job.id,
                kind=EntryKind.SETTLE.value,
                from_account="held",
                to_account="spent",
                credits=100,
                created_at=NOW,
            )
        )


def test_the_journal_is_append_only(database: Database) -> None:
    team_id = make_team(database)
    reserve(database, team_id, 100)
    for statement in (update(Entry).values(credits=1), delete(Entry)):
        with pytest.raises(DBAPIError, match="append-only"), database.write() as session:
            session.execute(statement)
    if database.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), database.write() as session:
            session.execute(text("TRUNCATE entries CASCADE"))
    assert_audit_clean(database)


def test_unknown_jobs_and_bad_amounts_are_refused(database: Database) -> None:
    team_id = make_team(database)
    job = reserve(database, team_id, 10)
    with pytest.raises(NotFound), database.write() as session:
        accounting.settle(session, "job_nope", 1, now=NOW)
    for bad in (-1, 1.5, True, "5", 10**16):
        with pytest.raises(InvalidInput), database.write() as session:
            accounting.settle(session, job.id, bad, now=NOW)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput), database.write() as session:
            accounting.reserve(session, team_id, bad, endpoint="x", kind="video", now=NOW)  # type: ignore[arg-type]


def test_budget_change_applies_to_the_current_period_and_keeps_history(
    database: Database,
) -> None:
    team_id = make_team(database, budget=1000)
    job = reserve(database, team_id, 400)
    with database.write() as session:
        accounting.settle(session, job.id, 400, now=NOW)
    next_month = NOW + timedelta(days=10)  # 2026-12-04
    with database.write() as session:
        teams.update_team(session, "acme", budget_credits=600, now=next_month)
    november, december = balance(database, team_id, NOW), balance(database, team_id, next_month)
    # November keeps its budget and its spend; December starts afresh with the new budget.
    assert (november.budget, november.spent, november.available) == (1000, 400, 600)
    assert (december.budget, december.spent, december.available) == (600, 0, 600)
    with database.read() as session:
        assert audit.run(session).violations == []


def test_lowering_the_budget_below_the_spend_leaves_nothing_available(database: Database) -> None:
    team_id = make_team(database, budget=1000)
    job = reserve(database, team_id, 400)
    with database.write() as session:
        accounting.settle(session, job.id, 400, now=NOW)
    with database.write() as session:
        teams.update_team(session, "acme", budget_credits=100, now=NOW)
    view = balance(database, team_id)
    assert (view.budget, view.spent, view.available) == (100, 400, -300)
    with pytest.raises(BudgetExceeded):
        reserve(database, team_id, 1)
    assert_audit_clean(database)


def test_spend_is_attributed_to_the_period_in_which_the_hold_was_made(
    database: Database,
) -> None:
    team_id = make_team(database, budget=1000, period="day")
    job = reserve(database, team_id, 300)
    tomorrow = NOW + timedelta(days=1)
    with database.write() as session:
        accounting.settle(session, job.id, 250, now=tomorrow)
    assert balance(database, team_id, NOW).spent == 250
    tomorrow_view = balance(database, team_id, tomorrow)
    assert (tomorrow_view.spent, tomorrow_view.available) == (0, 1000)
    assert_audit_clean(database)


def test_period_change_opens_the_new_period_at_once(database: Database) -> None:
    team_id = make_team(database, budget=1000, period="month")
    reserve(database, team_id, 700)
    with database.write() as session:
        teams.update_team(session, "acme", period="week", budget_credits=300, now=NOW)
    view = balance(database, team_id)
    assert (view.period, view.period_start) == ("week", datetime(2026, 11, 23, tzinfo=UTC))
    assert (view.budget, view.held, view.available) == (300, 0, 300)
    assert_audit_clean(database)


def test_adjustments_are_journal_entries_with_a_reason(database: Database) -> None:
    team_id = make_team(database, budget=100)
    with database.write() as session:
        team = session.get(Team, team_id)
        entry = accounting.adjust(session, team, 50, "credit pack bought", now=NOW)
        accounting.adjust(session, team, -20, "correction", now=NOW)
    assert (entry.kind, entry.credits, entry.reason) == ("adjustment", 50, "credit pack bought")
    view = balance(database, team_id)
    assert (view.adjustments, view.available) == (30, 130)
    for credits, reason in ((0, "x"), (5, ""), (5, "  "), (1.5, "x")):
        with pytest.raises(InvalidInput), database.write() as session:
            accounting.adjust(session, session.get(Team, team_id), credits, reason, now=NOW)
    assert_audit_clean(database)


def test_teams_and_keys_validate_their_input(database: Database) -> None:
    make_team(database)
    cases = [
        dict(slug="Bad", budget_credits=1),
        dict(slug="-x", budget_credits=1),
        dict(slug="x" * 64, budget_credits=1),
        dict(slug="ok", budget_credits=-1),
        dict(slug="ok", budget_credits=1.5),
        dict(slug="ok", budget_credits=1, period="year"),
        dict(slug="ok", budget_credits=1, max_credits_per_request=0),
        dict(slug="ok", budget_credits=1, alert_thresholds=[0]),
    ]
    before = snapshot(database)
    for case in cases:
        with pytest.raises(InvalidInput), database.write() as session:
            slug = case.pop("slug")
            teams.create_team(session, slug, **case)
    with pytest.raises(teams.Conflict), database.write() as session:
        teams.create_team(session, "acme", budget_credits=5)
    assert snapshot(database) == before


def test_keys_are_stored_as_hashes_and_revocable(database: Database) -> None:
    make_team(database)
    with database.write() as session:
        new = teams.create_key(session, "acme", label="ci")
    assert new.secret.startswith("mhl_") and len(new.secret) >= 36
    with database.read() as session:
        stored = session.execute(text("SELECT key_hash, prefix FROM api_keys")).one()
        assert new.secret not in stored.key_hash and stored.prefix == new.secret[:12]
        found = teams.authenticate(session, new.secret)
        assert found is not None and found[1].slug == "acme"
        assert teams.authenticate(session, new.secret[:-1] + "x") is None
        assert teams.authenticate(session, None) is None
    with database.write() as session:
        teams.revoke_key(session, new.key.id)
    with database.read() as session:
        assert teams.authenticate(session, new.secret) is None

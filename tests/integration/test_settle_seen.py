"""The plain settle of a hold just read (``accounting.settle_seen``), on SQLite and PostgreSQL:
it leaves exactly what ``accounting.settle`` leaves, does nothing when the job is no longer as
it was seen or the settle is not plain, and ends each hold once when it races settles, holds
and releases."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ledger import accounting, audit, teams
from ledger.accounting import SeenHold
from ledger.accounting.settle_sql import SEEN_HOLD_COLUMNS
from ledger.db import Database
from ledger.errors import HoldEnded
from ledger.models import Entry, Job, SpendRollup, Team

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 12, 5, tzinfo=UTC)


def make_team(database: Database, budget: int = 10_000) -> int:
    with database.write() as session:
        return teams.create_team(session, "acme", budget_credits=budget, now=NOW).id


def reserve(database: Database, team_id: int, credits: int, **priced: object) -> str:
    with database.write() as session:
        job = accounting.reserve(
            session,
            team_id,
            credits,
            endpoint="image-to-video",
            kind="video",
            model="kling-3.0",
            priced={"basis": "table", "table_credits": credits, **priced},
            now=NOW,
        )
    return job.id


def seen(database: Database, job_id: str) -> SeenHold:
    with database.read() as session:
        row = session.execute(select(*SEEN_HOLD_COLUMNS).where(Job.id == job_id)).one()
    return SeenHold(*row)


def job_state(database: Database, job_id: str) -> tuple:
    with database.read() as session:
        job = session.get_one(Job, job_id)
        entries = session.execute(
            select(Entry.kind, Entry.from_account, Entry.to_account, Entry.credits)
            .where(Entry.job_id == job_id)
            .order_by(Entry.id)
        ).all()
        return (
            job.status,
            job.held_credits,
            job.charged_credits,
            job.released_credits,
            job.flag,
            job.ended_at,
            entries,
        )


def money(database: Database, team_id: int) -> tuple:
    with database.read() as session:
        view = accounting.balance_of(session, session.get_one(Team, team_id), now=NOW)
        rollups = session.execute(
            select(SpendRollup.held, SpendRollup.spent, SpendRollup.released, SpendRollup.jobs)
        ).all()
        entries = session.scalars(select(Entry.id)).all()
    return (view.held, view.spent, view.available), rollups, len(entries)


def assert_audit_clean(database: Database) -> None:
    with database.read() as session:
        assert audit.run(session).violations == []


@pytest.mark.parametrize("charged", [0, 90, 150])
def test_a_plain_settle_leaves_what_settle_leaves(database: Database, charged: int) -> None:
    team_id = make_team(database)
    by_settle, by_seen = reserve(database, team_id, 150), reserve(database, team_id, 150)
    with database.write() as session:
        accounting.settle(session, by_settle, charged, now=LATER)
    assert accounting.settle_seen(database, seen(database, by_seen), charged, now=LATER)

    assert job_state(database, by_seen) == job_state(database, by_settle)
    status, held, charged_credits, released, flag, _, entries = job_state(database, by_seen)
    assert (status, held, charged_credits, released, flag) == (
        "settled",
        0,
        charged,
        150 - charged,
        None,
    )
    assert [kind for kind, *_ in entries] == (
        ["reserve"] + (["settle"] if charged else []) + (["return"] if charged < 150 else [])
    )
    (held, spent, available), rollups, _ = money(database, team_id)
    assert (held, spent, available) == (0, 2 * charged, 10_000 - 2 * charged)
    assert rollups == [(0, 2 * charged, 2 * (150 - charged), 2)]
    assert_audit_clean(database)


def test_a_hold_no_longer_as_seen_is_left_to_settle(database: Database) -> None:
    team_id = make_team(database)
    ended, moved = reserve(database, team_id, 150), reserve(database, team_id, 150)
    free = reserve(database, team_id, 0)  # ended, it still holds what was seen: nothing
    seen_ended, seen_moved, seen_free = (seen(database, j) for j in (ended, moved, free))
    with database.write() as session:
        accounting.settle(session, ended, 100, now=NOW)
        accounting.adjust_hold(session, moved, 120, now=NOW)
        accounting.release(session, free, now=NOW)
    jobs = (ended, moved, free)
    before = (money(database, team_id), [job_state(database, j) for j in jobs])

    assert not accounting.settle_seen(database, seen_ended, 100)
    assert not accounting.settle_seen(database, seen_moved, 100)
    assert not accounting.settle_seen(database, seen_free, 0)

    assert (money(database, team_id), [job_state(database, j) for j in jobs]) == before
    with pytest.raises(HoldEnded), database.write() as session:  # what the caller does next
        accounting.settle(session, ended, 100)
    assert_audit_clean(database)


@pytest.mark.parametrize(
    ("why", "charged", "priced"),
    [
        ("above the hold and the estimate: an overrun", 151, {}),
        ("a charge of a key without a published rate teaches a price", 100, {"basis": "fallback"}),
        ("above the table's rate teaches a price", 120, {"table_credits": 100}),
    ],
)
def test_a_settle_that_is_not_plain_is_left_to_settle(
    database: Database, why: str, charged: int, priced: dict
) -> None:
    team_id = make_team(database)
    job_id = reserve(database, team_id, 150, **priced)
    before = (money(database, team_id), job_state(database, job_id))
    assert not accounting.settle_seen(database, seen(database, job_id), charged), why
    assert (money(database, team_id), job_state(database, job_id)) == before


def test_racing_plain_settles_holds_and_releases_end_each_hold_once(database_url: str) -> None:
    """Threads settle the same open jobs through both paths, release some, and take new holds
    of the same team all along: every job ends once, and the money adds up."""
    database = Database(database_url, pool_size=8)
    try:
        team_id = make_team(database, budget=10**6)
        jobs = [reserve(database, team_id, 100) for _ in range(40)]
        views = {job_id: seen(database, job_id) for job_id in jobs}
        barrier = threading.Barrier(8)
        ended_by: dict[str, list[str]] = {job_id: [] for job_id in jobs}
        lock = threading.Lock()
        new_holds: list[str] = []

        def end(job_id: str, how: str) -> None:
            try:
                if how == "seen":
                    done = accounting.settle_seen(database, views[job_id], 60)
                    if not done:
                        return
                else:
                    with database.write() as session:
                        if how == "settle":
                            accounting.settle(session, job_id, 60)
                        else:
                            accounting.release(session, job_id)
            except HoldEnded:
                return
            with lock:
                ended_by[job_id].append(how)

        def racer(seed: int) -> None:
            rng = random.Random(seed)
            barrier.wait()
            for job_id in rng.sample(jobs, len(jobs)):
                if seed % 4 == 3:  # this racer takes new holds of the same team meanwhile
                    new_holds.append(reserve(database, team_id, 10))
                else:
                    end(job_id, rng.choice(["seen", "seen", "settle", "release"]))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(racer, range(8)))

        assert all(len(ways) == 1 for ways in ended_by.values()), ended_by
        settled = sum(ways == ["seen"] or ways == ["settle"] for ways in ended_by.values())
        (held, spent, available), _, _ = money(database, team_id)
        assert (held, spent) == (10 * len(new_holds), 60 * settled)
        assert available == 10**6 - held - spent
        assert any(ways == ["seen"] for ways in ended_by.values())
        assert_audit_clean(database)
    finally:
        database.dispose()

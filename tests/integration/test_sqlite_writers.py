"""SQLite writers of several processes take turns on a file lock beside the database, with the
busy timeout as the limit of a wait; the create path's writes of one process commit together."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ledger import accounting, teams
from ledger.db import Database, Hot, upgrade
from ledger.errors import BudgetExceeded
from ledger.models import WorkerBeat

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _two_processes_worth(database_url: str) -> tuple[Database, Database]:
    """Two Database objects on one file: each opens the lock file itself, as two processes do
    (a flock belongs to an open file, not to a process)."""
    first = Database(database_url, sqlite_busy_timeout_ms=300)
    upgrade(first)
    return first, Database(database_url, sqlite_busy_timeout_ms=300)


def _queued_behind(holder: Database, calls: list[Callable[[], None]]) -> None:
    """Run the calls in threads while ``holder`` keeps the writers' lock: their writes pile up
    behind it, then go as one group."""
    with holder._write_lock:
        threads = [threading.Thread(target=call) for call in calls]
        for thread in threads:
            thread.start()
        time.sleep(0.15)
    for thread in threads:
        thread.join()


def test_a_writer_waits_for_another_then_writes(database_url: str) -> None:
    first, second = _two_processes_worth(database_url)
    try:
        with second.write() as session:
            key = teams.create_key(session, teams.create_team(session, "a", budget_credits=90).slug)
        released = threading.Event()

        def hold_the_lock() -> None:
            with first._write_lock:
                time.sleep(0.1)
            released.set()

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        time.sleep(0.02)
        hold = accounting.hold_for_key(
            second, teams.hash_key(key.secret), 90, endpoint="image-to-video", kind="video"
        )
        holder.join()
        assert released.is_set() and hold is not None and hold.available_after == 0
        assert Path(f"{second.url.database}-writers").exists()
    finally:
        first.dispose()
        second.dispose()


def test_a_writer_kept_waiting_past_the_busy_timeout_fails_as_locked(database_url: str) -> None:
    first, second = _two_processes_worth(database_url)
    try:
        with second.write() as session:
            key = teams.create_key(session, teams.create_team(session, "a", budget_credits=90).slug)
        with first._write_lock:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                accounting.hold_for_key(
                    second, teams.hash_key(key.secret), 90, endpoint="image-to-video", kind="video"
                )
            assert 0.25 < time.monotonic() - started < 3
        # Nothing was held; once the lock is free the same hold goes through.
        hold = accounting.hold_for_key(
            second, teams.hash_key(key.secret), 90, endpoint="image-to-video", kind="video"
        )
        assert hold is not None and hold.available_after == 0
    finally:
        first.dispose()
        second.dispose()


def test_writes_handed_in_together_commit_together_and_a_refusal_spoils_none(
    database_url: str,
) -> None:
    """While another writer holds the lock, eight holds pile up; they are committed as one
    group: the ones that fit are all kept, the ones that do not change nothing."""
    first, second = _two_processes_worth(database_url)
    try:
        with second.write() as session:
            key = teams.create_key(
                session, teams.create_team(session, "a", budget_credits=500).slug
            )
        key_hash = teams.hash_key(key.secret)
        outcomes: list[str] = []

        def create() -> None:
            try:
                accounting.hold_for_key(
                    second, key_hash, 100, endpoint="image-to-video", kind="video"
                )
                outcomes.append("held")
            except BudgetExceeded:
                outcomes.append("refused")

        _queued_behind(first, [create] * 8)
        assert sorted(outcomes) == ["held"] * 5 + ["refused"] * 3
        with second.read() as session:
            team = teams.get_team(session, "a")
            balance = accounting.balance_of(session, team)
        assert (balance.held, balance.available) == (500, 0)
    finally:
        first.dispose()
        second.dispose()


def test_a_write_that_fails_half_way_in_a_group_is_undone_and_the_others_kept(
    database_url: str,
) -> None:
    """Writes handed in together run in one transaction; one of them writes, then fails: the
    group runs again with a savepoint per write, so its row is gone and the others' are kept."""
    first, second = _two_processes_worth(database_url)
    try:
        outcomes: dict[str, str] = {}

        def write(name: str) -> Callable[[Hot], str]:
            def run(hot: Hot) -> str:
                hot.plain(
                    "INSERT INTO worker_beats (name, started_at, beat_at, sweeps) "
                    f"VALUES ('{name}', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 0)"
                )
                if name == "w3":
                    raise RuntimeError("failed after writing")
                return name

            return run

        def hand_in(name: str) -> None:
            try:
                outcomes[name] = second.write_together(write(name))
            except RuntimeError as error:
                outcomes[name] = str(error)

        _queued_behind(first, [functools.partial(hand_in, f"w{i}") for i in range(6)])
        assert outcomes == {f"w{i}": f"w{i}" for i in range(6) if i != 3} | {
            "w3": "failed after writing"
        }
        with second.read() as session:
            names = session.scalars(select(WorkerBeat.name).order_by(WorkerBeat.name)).all()
        assert names == ["w0", "w1", "w2", "w4", "w5"]
    finally:
        first.dispose()
        second.dispose()

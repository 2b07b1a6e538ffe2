"""Racing reservations never overspend: threads and processes, on both databases."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from ledger import accounting, audit, teams
from ledger.db import Database
from ledger.errors import BudgetExceeded
from ledger.models import Job, Team

BUDGET = 5_000
THREADS = 16
ATTEMPTS_PER_WORKER = 40


def _race(take: Callable[[int], object], seed: int, barrier: threading.Barrier) -> list[int]:
    """Hold random amounts until refused a few times; return what was accepted."""
    rng = random.Random(seed)
    accepted: list[int] = []
    barrier.wait()
    for _ in range(ATTEMPTS_PER_WORKER):
        credits = rng.randint(1, 120)
        try:
            take(credits)
        except BudgetExceeded:
            continue
        accepted.append(credits)
    return accepted


def _reserve(database: Database, team_id: int, credits: int) -> None:
    with database.write() as session:
        accounting.reserve(session, team_id, credits, endpoint="image-to-video", kind="video")


def _hold(database: Database, key_hash: str, credits: int) -> None:
    """The create path's hold: driver statements, and on SQLite group commit."""
    hold = accounting.hold_for_key(
        database, key_hash, credits, endpoint="image-to-video", kind="video"
    )
    assert hold is not None and hold.credits == credits


def _key_hash(database: Database) -> str:
    """The hash of a new key of the hot team, as the create path looks it up."""
    with database.write() as session:
        return teams.hash_key(teams.create_key(session, "hot").secret)


def _team(database: Database) -> int:
    with database.write() as session:
        return teams.create_team(session, "hot", budget_credits=BUDGET).id


def _held_total(database: Database, team_id: int) -> int:
    with database.read() as session:
        return int(
            session.scalar(select(func.sum(Job.held_credits)).where(Job.team_id == team_id)) or 0
        )


def _take_the_last_credits_and_audit(database: Database, team_id: int) -> None:
    with database.read() as session:
        team = session.get(Team, team_id)
        available = accounting.balance_of(session, team).available
    assert available >= 0
    if available:
        with database.write() as session:
            accounting.reserve(session, team_id, available, endpoint="image-to-video", kind="video")
    with database.read() as session:
        team = session.get(Team, team_id)
        assert accounting.balance_of(session, team).available == 0
        report = audit.run(session)
    assert report.violations == []
    with pytest.raises(BudgetExceeded), database.write() as session:
        accounting.reserve(session, team_id, 1, endpoint="image-to-video", kind="video")


@pytest.mark.parametrize("path", ["reserve", "create path"])
def test_racing_threads_never_take_more_than_the_budget(database_url: str, path: str) -> None:
    database = Database(database_url, pool_size=20)
    try:
        team_id = _team(database)
        key_hash = _key_hash(database)
        barrier = threading.Barrier(THREADS)

        def race(seed: int) -> list[int]:
            if path == "reserve":
                return _race(lambda c: _reserve(database, team_id, c), seed, barrier)
            return _race(lambda c: _hold(database, key_hash, c), seed, barrier)

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(race, range(THREADS)))
        accepted = sum(sum(r) for r in results)
        print(f"{THREADS} threads accepted {sum(map(len, results))} holds, {accepted} credits")
        assert 0 < accepted <= BUDGET
        assert _held_total(database, team_id) == accepted
        _take_the_last_credits_and_audit(database, team_id)
    finally:
        database.dispose()


_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, random, sys
    from ledger import accounting
    from ledger.db import Database
    from ledger.errors import BudgetExceeded

    url, key_hash, seed, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    start_at = float(start_at)
    database = Database(url, pool_size=10)
    with database.read() as session:  # connect before the start line
        pass
    rng = random.Random(seed)
    accepted = []

    def worker(n):
        local = random.Random(seed * 100 + n)
        for _ in range(25):
            credits = local.randint(1, 120)
            try:  # the create path's hold: driver statements, group commit, writer queue
                accounting.hold_for_key(
                    database, key_hash, credits, endpoint="image-to-video", kind="video"
                )
            except BudgetExceeded:
                continue
            accepted.append(credits)

    import threading, time
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    time.sleep(max(0.0, start_at - time.time()))  # both processes start racing together
    [t.start() for t in threads]
    [t.join() for t in threads]
    database.dispose()
    print(json.dumps(accepted))
    """
)


def test_racing_processes_never_take_more_than_the_budget(database_url: str) -> None:
    database = Database(database_url)
    try:
        team_id = _team(database)
        key_hash = _key_hash(database)
        start_at = time.time() + 5  # time enough for both to start and connect
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _PROCESS_SCRIPT,
                    database_url,
                    key_hash,
                    str(seed),
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for seed in (1, 2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in processes]
        assert all(p.returncode == 0 for p in processes)
        accepted = [json.loads(out) for out in outputs]
        total = sum(map(sum, accepted))
        print(f"2 processes x 8 threads accepted {sum(map(len, accepted))} holds, {total} credits")
        assert all(accepted), "both processes should have won some holds"
        assert 0 < total <= BUDGET
        assert _held_total(database, team_id) == total
        _take_the_last_credits_and_audit(database, team_id)
    finally:
        database.dispose()

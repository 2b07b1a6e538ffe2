"""No hold outlives its outcome under the loads that used to deadlock PostgreSQL (issue 16):
a team changed (PATCH) during its traffic, and concurrent retries of one Idempotency-Key whose
create Magic Hour refuses. Real HTTP, the in-process ledger in front of the simulator; the lock
order is written in ``ledger.accounting``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from ledger import audit
from ledger.models import Job
from tests.support.service import ADMIN_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CREATE = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3, "model": "kling-3.0"}

# The deadlocks were PostgreSQL's (SQLite has one writer at a time).
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def refused_upstream_holds(ledger: Ledger) -> tuple[int, int]:
    """(jobs Magic Hour refused that still hold credits, credits they hold)."""
    with ledger.database.read() as session:
        count, held = session.execute(
            select(func.count(), func.coalesce(func.sum(Job.held_credits), 0)).where(
                Job.response_status == 422, Job.held_credits > 0
            )
        ).one()
    return int(count), int(held)


def assert_audit_clean(ledger: Ledger) -> None:
    with ledger.database.read() as session:
        report = audit.run(session)
    assert report.violations == []


def test_patching_a_team_during_its_traffic_neither_deadlocks_nor_keeps_holds(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger(upstream_timeout=10.0)
    ledger.simulator.set_faults(error_rate=0.5, error_status=422, scope="create")
    key = ledger.team("hot", 10_000_000)
    statuses: Counter[int] = Counter()
    patches: Counter[int] = Counter()
    done = threading.Event()

    def creates(_: int) -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(20):
                answer = http.post(
                    f"{ledger.url}/v1/image-to-video",
                    json=CREATE,
                    headers={"Authorization": f"Bearer {key}"},
                )
                statuses[answer.status_code] += 1

    def patch() -> None:
        with httpx.Client(timeout=30) as http:
            n = 0
            while not done.is_set():
                n += 1
                change = {"name": f"hot {n}"} if n % 2 else {"budget_credits": 10_000_000 + n}
                answer = http.patch(f"{ledger.url}/api/teams/hot", json=change, headers=ADMIN)
                patches[answer.status_code] += 1

    patcher = threading.Thread(target=patch)
    patcher.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(creates, range(16)))
    finally:
        done.set()
        patcher.join()
    assert set(statuses) <= {200, 422}, statuses  # no 503: no deadlock surfaced
    assert statuses[200] + statuses[422] == 320 and statuses[422] > 0
    assert set(patches) == {200} and patches[200] > 0, patches
    assert refused_upstream_holds(ledger) == (0, 0)
    assert ledger.balance("hot").held == statuses[200] * 144  # kling-3.0 at 720p, 3 s
    assert_audit_clean(ledger)


def test_concurrent_retries_of_a_refused_create_release_every_hold(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger(upstream_timeout=10.0)
    ledger.simulator.set_faults(error_rate=1.0, error_status=422, scope="create")
    key = ledger.team("retries", 10_000_000)
    statuses: Counter[int] = Counter()

    def attempt(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            answer = http.post(
                f"{ledger.url}/v1/image-to-video",
                json=CREATE,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"k-{n // 4}"},
            )
            statuses[answer.status_code] += 1

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(attempt, range(240)))  # 60 keys x 4 concurrent retries
    # Each key's first request got Magic Hour's 422; its repeats the same 422, or 409 while the
    # first was still running. Never a 503 from a deadlock.
    assert set(statuses) <= {422, 409}, statuses
    with ledger.database.read() as session:
        jobs = session.scalar(select(func.count()).select_from(Job))
    assert jobs == 60
    assert refused_upstream_holds(ledger) == (0, 0)
    assert ledger.balance("retries").held == 0
    assert_audit_clean(ledger)

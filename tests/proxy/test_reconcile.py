"""Reconciliation end to end: jobs created through the proxy, settled to the simulator's truth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from ledger import accounting, audit
from ledger.errors import HoldEnded
from ledger.models import Alert, Entry, Job, Team, utcnow
from ledger.reconcile import Reconciler
from ledger.upstream import Upstream
from tests.support.service import UPSTREAM_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"
LATER = timedelta(hours=1)  # sweeping "an hour from now" makes every scheduled poll due


def create_jobs(ledger: Ledger, key: str, count: int, threads: int = 8) -> list[str]:
    """``count`` image-to-video creates through the proxy; returns the upstream ids."""

    def one(n: int) -> str:
        with httpx.Client(timeout=30) as http:
            response = http.post(
                f"{ledger.url}/v1/image-to-video",
                json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3 + n % 5},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def seed_submitted_jobs(ledger: Ledger, slug: str, count: int) -> None:
    """``count`` jobs as the proxy leaves them after upstream accepted them, made quickly:
    created on the simulator directly, then held and recorded in the ledger in batches."""
    with httpx.Client(base_url=ledger.simulator.url, timeout=30) as http:
        created = [
            http.post(
                "/v1/image-to-video",
                json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3 + n % 5},
                headers={"Authorization": f"Bearer {UPSTREAM_TOKEN}"},
            ).json()
            for n in range(count)
        ]
    with ledger.database.read() as session:
        team_id = session.scalar(select(Team.id).where(Team.slug == slug))
    for start in range(0, count, 100):
        with ledger.database.write() as session:
            for project in created[start : start + 100]:
                job = accounting.reserve(
                    session,
                    team_id,
                    project["credits_charged"],
                    endpoint="image-to-video",
                    kind="video",
                )
                session.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(
                        upstream_id=project["id"],
                        status="submitted",
                        submitted_at=utcnow(),
                        next_poll_at=utcnow(),
                    )
                )


def reconciler_for(ledger: Ledger, **options) -> Reconciler:  # type: ignore[no-untyped-def]
    upstream = Upstream(ledger.simulator.url, UPSTREAM_TOKEN, timeout=5)
    options.setdefault("max_requests_per_second", 200)
    return Reconciler(ledger.database, upstream, poll_interval=0.05, **options)


def open_jobs(ledger: Ledger) -> int:
    with ledger.database.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(Job).where(Job.ended_at.is_(None))) or 0
        )


def sweep_until_settled(reconciler: Reconciler, ledger: Ledger, timeout: float = 60) -> None:
    """Sweep as the scheduler does: a sweep that fails (SQLite busy past the tests' short
    timeout) is followed by the next one."""
    deadline = time.monotonic() + timeout
    while open_jobs(ledger):
        assert time.monotonic() < deadline, f"{open_jobs(ledger)} jobs still open"
        try:
            reconciler.sweep(now=utcnow() + LATER)
        except OperationalError:
            time.sleep(0.05)


def assert_ledger_matches_upstream(ledger: Ledger) -> None:
    """Job by job, what the ledger charged equals the simulator's final credits_charged."""
    truth = {job["id"]: job for job in ledger.simulator.jobs()}
    with ledger.database.read() as session:
        jobs = list(session.scalars(select(Job)))
        report = audit.run(session)
    assert report.violations == []
    assert {job.upstream_id for job in jobs} == set(truth)  # every upstream job is in the ledger
    for job in jobs:
        upstream = truth[job.upstream_id]
        assert job.status == "settled", (job.id, job.status)
        assert job.charged_credits == upstream["final_credits_charged"], (job.id, upstream)


def test_every_job_settles_to_what_upstream_finally_charged(make_ledger) -> None:
    # Output frame rates drift (24/25 fps instead of 30), some renders fail (refunded), some are
    # canceled by their owners upstream.
    ledger = make_ledger(drift_rate=0.5, job_error_rate=0.15, cancel_rate=0.1)
    key = ledger.team("acme", 1_000_000)
    create_jobs(ledger, key, 60)
    ledger.simulator.wait_until_settled()
    reconciler = reconciler_for(ledger)
    sweep_until_settled(reconciler, ledger)
    assert_ledger_matches_upstream(ledger)
    statuses = {job["status"] for job in ledger.simulator.jobs()}
    assert {"complete", "error"} <= statuses  # the run really had failures and drift
    charged = sum(j.charged_credits or 0 for j in ledger.jobs("acme"))
    view = ledger.balance("acme")
    assert (view.held, view.spent) == (0, charged)
    assert ledger.simulator.state()["account"]["charged"] == charged


def test_a_settle_the_database_refuses_is_polled_again_at_the_next_sweep(
    make_ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One settle fails as a busy SQLite or a deadlocked PostgreSQL makes it fail; the job's
    # claim must not keep it waiting for the lease (two minutes), nor stop the batch.
    ledger = make_ledger()
    key = ledger.team("acme", 100_000)
    create_jobs(ledger, key, 3)
    ledger.simulator.wait_until_settled()
    real_settle, refused = accounting.settle, []

    def settle_refused_once(session, job_id, charged, **options):  # type: ignore[no-untyped-def]
        if not refused:
            refused.append(job_id)
            raise OperationalError("UPDATE balances", {}, Exception("database is locked"))
        return real_settle(session, job_id, charged, **options)

    monkeypatch.setattr(accounting, "settle", settle_refused_once)
    reconciler = reconciler_for(ledger)
    first = reconciler.sweep(now=utcnow() + LATER)
    assert (first.claimed, first.settled, first.errors) == (3, 2, 1)
    assert [job.status for job in ledger.jobs("acme") if job.id in refused] == ["submitted"]
    second = reconciler.sweep(now=utcnow() + LATER)  # the next sweep, not the lease's end
    assert (second.claimed, second.settled) == (1, 1)
    assert open_jobs(ledger) == 0
    assert_ledger_matches_upstream(ledger)


def test_a_sweep_schedules_first_polls_where_jobs_are_likely_done(make_ledger) -> None:
    ledger = make_ledger()
    key = ledger.team("acme", 10_000)
    create_jobs(ledger, key, 3)
    reconciler = reconciler_for(ledger)
    now = utcnow()
    report = reconciler.sweep(now=now)
    assert (report.scheduled, report.claimed, report.polled) == (3, 0, 0)
    with ledger.database.read() as session:
        first_polls = session.scalars(select(Job.next_poll_at)).all()
    assert all(now + timedelta(seconds=5) < t for t in first_polls)  # not polled blindly at once


def test_three_pollers_end_each_hold_exactly_once(make_ledger, backend: str, database_url) -> None:
    ledger = make_ledger()
    ledger.team("acme", 10_000_000)
    seed_submitted_jobs(ledger, "acme", 1000)
    ledger.simulator.wait_until_settled(timeout=60)
    processes = []
    if backend == "postgresql":
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_UPSTREAM_URL": ledger.simulator.url,
            "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
            "LEDGER_POLL_INTERVAL": "0.2",
            "LEDGER_POLL_RATE": "200",
        }
        processes = [
            subprocess.Popen([sys.executable, "-m", "ledger", "worker"], env=env) for _ in range(2)
        ]
    stop = threading.Event()

    def poller() -> None:
        # A sweep that fails after claiming leaves its claims leased: a short lease here, so
        # that they fall due again within the test (the scheduler's is two minutes).
        reconciler = reconciler_for(ledger, batch=50, lease=timedelta(seconds=3))
        while not stop.is_set() and open_jobs(ledger):
            try:
                reconciler.sweep(now=utcnow() + LATER)
            except OperationalError:  # as in sweep_until_settled
                time.sleep(0.05)

    threads = [threading.Thread(target=poller) for _ in range(3 - len(processes))]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while open_jobs(ledger) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    assert open_jobs(ledger) == 0
    with ledger.database.read() as session:
        endings = session.execute(
            select(Entry.job_id, func.count())
            .where(Entry.kind.in_(["settle", "release"]))
            .group_by(Entry.job_id)
            .having(func.count() > 1)
        ).all()
    assert endings == []
    assert_ledger_matches_upstream(ledger)


def test_sigkill_of_a_worker_mid_sweep_loses_nothing(
    make_ledger, database_url: str, tmp_path
) -> None:
    ledger = make_ledger()
    ledger.team("acme", 10_000_000)
    seed_submitted_jobs(ledger, "acme", 200)
    ledger.simulator.wait_until_settled(timeout=60)
    # Slow project GETs, so that the kill lands in the middle of a sweep.
    ledger.simulator.set_faults(slow_rate=1.0, slow_seconds=0.3, scope="get")
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_UPSTREAM_URL": ledger.simulator.url,
        "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
        "LEDGER_POLL_INTERVAL": "0.2",
    }
    for round_ in range(3):
        worker = subprocess.Popen([sys.executable, "-m", "ledger", "worker"], env=env)
        if round_ == 0:
            # The first is killed once it has settled a few, mid-sweep (a fixed sleep landed
            # before its first settle on a loaded machine); it leaves the rest of its claims
            # leased. The others are killed after a while, whatever they got to.
            deadline = time.monotonic() + 30
            while open_jobs(ledger) > 190 and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            time.sleep(2.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    settled_before_restart = 200 - open_jobs(ledger)
    assert 0 < settled_before_restart < 200, "the kills should land mid-way"
    ledger.simulator.clear_faults()
    # Claims of the killed workers are leases that run out; a fresh sweeper picks them up.
    sweep_until_settled(reconciler_for(ledger), ledger)
    assert_ledger_matches_upstream(ledger)


def test_upstream_429_is_honoured(make_ledger) -> None:
    ledger = make_ledger()
    key = ledger.team("acme", 10_000)
    create_jobs(ledger, key, 4)
    ledger.simulator.wait_until_settled()
    ledger.simulator.set_faults(rate_limit_rate=1.0, retry_after=30, scope="get")
    reconciler = reconciler_for(ledger, concurrency=1)
    report = reconciler.sweep(now=utcnow() + LATER)
    # The first GET got 429: the rest were not even tried, and all wait for Retry-After.
    assert (report.claimed, report.polled, report.rescheduled) == (4, 1, 4)
    assert ledger.simulator.state()["counters"].get("fault:rate_limit") == 1
    with ledger.database.read() as session:
        next_polls = session.scalars(select(Job.next_poll_at)).all()
    assert all(t > utcnow() + timedelta(seconds=25) for t in next_polls)


def test_interrupted_and_unknown_jobs_are_released_after_the_hold_time(make_ledger) -> None:
    ledger = make_ledger()
    ledger.team("acme", 1000)
    with ledger.database.write() as session:
        team_id = session.scalar(select(Job.team_id)) or 1
        stale = accounting.reserve(session, team_id, 100, endpoint="image-to-video", kind="video")
        fresh = accounting.reserve(session, team_id, 50, endpoint="image-to-video", kind="video")
        session.flush()
        session.execute(
            update(Job).where(Job.id == stale.id).values(created_at=utcnow() - timedelta(hours=30))
        )
    reconciler = reconciler_for(ledger, unknown_hold=timedelta(hours=24))
    report = reconciler.sweep()
    assert (report.became_unknown, report.expired_unknown) == (1, 1)
    with ledger.database.read() as session:
        old, new = session.get(Job, stale.id), session.get(Job, fresh.id)
    assert (old.status, old.flag) == ("released", "unknown_expired")
    assert new.status == "reserved"  # a request still in flight is left alone
    assert ledger.balance("acme").held == 50


def test_an_overrun_is_charged_flagged_and_alerted(make_ledger) -> None:
    ledger = make_ledger()
    ledger.team("acme", 100)
    with ledger.database.write() as session:
        job = accounting.reserve(session, 1, 100, endpoint="image-to-video", kind="video")
    with ledger.database.write() as session:
        accounting.settle(session, job.id, 130)
    with pytest.raises(HoldEnded), ledger.database.write() as session:
        accounting.settle(session, job.id, 130)  # a repeat neither charges nor alerts twice
    with ledger.database.read() as session:
        alerts = session.scalars(select(Alert).where(Alert.kind == "overrun")).all()
        settled = session.get(Job, job.id)
    assert settled.flag == "overrun" and ledger.balance("acme").available == -30
    assert [(a.kind, a.job_id, a.details) for a in alerts] == [
        ("overrun", job.id, {"charged": 130, "estimated": 100})
    ]
    assert json.loads(json.dumps(alerts[0].details)) == {"charged": 130, "estimated": 100}


def test_drift_shows_spend_that_bypassed_the_proxy(make_ledger) -> None:
    from ledger import drift

    ledger = make_ledger()
    key = ledger.team("acme", 100_000)
    upstream = Upstream(ledger.simulator.url, UPSTREAM_TOKEN, timeout=5)
    assert drift.record_snapshot(ledger.database, upstream) == 1_000_000
    create_jobs(ledger, key, 4)  # through ledger
    with httpx.Client(base_url=ledger.simulator.url) as direct:  # around it, same account
        bypass = direct.post(
            "/v1/image-to-video",
            json={"assets": {"image_file_path": IMAGE}, "end_seconds": 5},
            headers={"Authorization": f"Bearer {UPSTREAM_TOKEN}"},
        ).json()
    ledger.simulator.wait_until_settled()
    sweep_until_settled(reconciler_for(ledger), ledger)
    drift.record_snapshot(ledger.database, upstream)
    with ledger.database.read() as session:
        found = drift.drift(session, None, None)
    charged = sum(j.charged_credits or 0 for j in ledger.jobs("acme"))
    assert (found.ledger_spent, found.bypassed) == (charged, bypass["credits_charged"])
    assert found.upstream_spent == charged + bypass["credits_charged"]
    upstream.close()

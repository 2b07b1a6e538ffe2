"""Reconciliation: settle every submitted job to what Magic Hour finally charged, exactly once.

A sweep (every ``LEDGER_POLL_INTERVAL`` seconds, from the scheduler) does four things:

1. **schedule** new jobs: the first poll is put where the job is likely done, predicted from its
   kind and clip length and what past jobs of that endpoint took (learned as we go);
2. **claim** the jobs that are due. Claiming pushes a job's next poll past a lease, in a short
   transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time), so
   any number of workers and instances share the work without polling a job twice at once; a
   worker that dies just lets its claims fall due again when the lease runs out;
3. **poll** the claimed projects concurrently, under a cap on upstream requests per second and
   honouring ``429 Retry-After``; a terminal status (``complete``, ``error``, ``canceled``) settles
   the job to the project's final ``credits_charged`` in one transaction (the database guard in
   :func:`ledger.accounting.settle` makes a second settlement impossible); anything else is looked
   at again later, with backoff and jitter;
4. **tidy** jobs without an upstream project: a ``reserved`` job whose request died mid-way becomes
   ``unknown``; an ``unknown`` job is released and flagged after ``LEDGER_UNKNOWN_HOLD_HOURS``.

A webhook only makes a job due now: the money always comes from a GET of the project.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, update

from ledger import accounting
from ledger.db import Database
from ledger.errors import Conflict, HoldEnded, NotFound
from ledger.models import Job, JobStatus, utcnow
from ledger.telemetry import POLLS
from ledger.upstream import Upstream, UpstreamReply, UpstreamUnknown, UpstreamUnreachable

log = logging.getLogger("ledger.reconcile")

TERMINAL = ("complete", "error", "canceled")
# Before we have seen any job of an endpoint finish: seconds of queue + render, and render
# seconds per second of clip. Deliberately on the short side: a poll too early costs one GET; a
# poll too late delays settlement.
PRIOR_BASE_SECONDS = {"video": 10.0, "image": 8.0, "audio": 15.0}
PRIOR_SECONDS_PER_CLIP_SECOND = 1.0
LEARNING_RATE = 0.2  # weight of each new observation in the moving averages
STUCK_AFTER = timedelta(hours=24)  # a job polled this long is flagged, and still polled


@dataclass
class SweepReport:
    scheduled: int = 0
    claimed: int = 0
    polled: int = 0
    # what the polls found (``Reconciler.poll`` returns one of these names)
    settled: int = 0
    deleted_upstream: int = 0
    already_ended: int = 0
    rescheduled: int = 0
    errors: int = 0
    # jobs without an upstream project
    became_unknown: int = 0
    expired_unknown: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in vars(self).items())


class RateLimiter:
    """At most ``rate`` acquisitions per second across threads; and a pause on 429."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now, self._paused_until)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())


@dataclass
class Timing:
    """What jobs of one endpoint have taken, learned as they finish."""

    base: float
    per_clip_second: float
    samples: int = 0


@dataclass
class Reconciler:
    database: Database
    upstream: Upstream
    poll_interval: float = 5.0
    unknown_hold: timedelta = timedelta(hours=24)
    reserved_stale_after: timedelta = timedelta(minutes=5)
    max_requests_per_second: float = 20.0
    concurrency: int = 8
    batch: int = 200
    lease: timedelta = timedelta(minutes=2)
    timings: dict[str, Timing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.max_requests_per_second)
        self._lock = threading.Lock()

    # -- the sweep ----------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """One pass: schedule, claim, poll, settle, tidy. Safe to run anywhere, any number."""
        report = SweepReport()
        now = now or utcnow()
        report.scheduled = self.schedule_new(now)
        claimed = self.claim_due(now)
        report.claimed = len(claimed)
        if claimed:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="poll") as pool:
                for polled, outcome in pool.map(self._poll_claimed, claimed):
                    report.polled += polled
                    setattr(report, outcome, getattr(report, outcome) + 1)
        report.became_unknown = self.mark_stale_reserved(now)
        report.expired_unknown = self.expire_unknown(now)
        return report

    def schedule_new(self, now: datetime) -> int:
        """Give submitted jobs without a poll time their first one: when they are likely done."""
        with self.database.write() as session:
            rows = session.execute(
                select(Job.id, Job.endpoint, Job.kind, Job.clip_seconds, Job.submitted_at)
                .where(Job.status == JobStatus.SUBMITTED.value, Job.next_poll_at.is_(None))
                .limit(self.batch * 5)
                .with_for_update(skip_locked=True)
            ).all()
            for job_id, endpoint, kind, clip, submitted in rows:
                start = submitted or now
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(next_poll_at=start + self.predicted_duration(endpoint, kind, clip))
                )
        return len(rows)

    def claim_due(self, now: datetime) -> list[tuple[str, str, str]]:
        """Claim up to ``batch`` due jobs: (job id, upstream id, kind)."""
        with self.database.write() as session:
            rows = session.execute(
                select(Job.id, Job.upstream_id, Job.kind)
                .where(
                    Job.status == JobStatus.SUBMITTED.value,
                    Job.next_poll_at.is_not(None),
                    Job.next_poll_at <= now,
                )
                .order_by(Job.next_poll_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(
                    update(Job)
                    .where(Job.id.in_([r[0] for r in rows]))
                    .values(next_poll_at=now + self.lease)
                )
        return [(r[0], r[1] or "", r[2]) for r in rows]  # submitted jobs have an upstream id

    def _poll_claimed(self, claimed: tuple[str, str, str]) -> tuple[bool, str]:
        job_id, upstream_id, kind = claimed
        paused = self.limiter.paused_for()
        if paused > 0:  # upstream asked us to wait (429): do not even try
            self._reschedule(job_id, utcnow() + timedelta(seconds=paused), polled=False)
            return False, "rescheduled"
        return True, self.poll(job_id, upstream_id, kind)

    # -- one job ------------------------------------------------------------------------------

    def poll(self, job_id: str, upstream_id: str, kind: str) -> str:
        """GET the project and act on what it says; returns what happened."""
        outcome = self._poll(job_id, upstream_id, kind)
        POLLS.labels(outcome).inc()
        return outcome

    def _poll(self, job_id: str, upstream_id: str, kind: str) -> str:
        self.limiter.acquire()
        try:
            reply = self.upstream.request(
                "GET", f"/v1/{kind}-projects/{quote(upstream_id, safe='')}"
            )
        except (UpstreamUnreachable, UpstreamUnknown) as exc:
            log.warning("poll of job %s failed: %s", job_id, exc)
            self._reschedule(job_id, self._backoff(job_id), polled=True)
            return "errors"
        return self.apply(job_id, reply)

    def apply(self, job_id: str, reply: UpstreamReply) -> str:
        """Act on a project GET's answer for the job."""
        now = utcnow()
        if reply.status == 429:
            retry_after = _seconds(reply.headers.get("retry-after"), default=self.poll_interval)
            self.limiter.pause(retry_after)
            self._reschedule(job_id, now + timedelta(seconds=retry_after), polled=True)
            return "rescheduled"
        if reply.status == 404:
            return self._settle_deleted(job_id, now)
        project = reply.json()
        if not reply.ok or not isinstance(project, dict):
            self._reschedule(job_id, self._backoff(job_id), polled=True)
            return "errors"
        status = project.get("status")
        charge = project.get("credits_charged")
        charge = charge if isinstance(charge, int) and not isinstance(charge, bool) else None
        if status in TERMINAL and charge is not None and charge >= 0:
            return self._settle(job_id, status, charge, now)
        self._reschedule(job_id, self._backoff(job_id), polled=True, status=status, charge=charge)
        return "rescheduled"

    def _settle(self, job_id: str, status: str, charge: int, now: datetime) -> str:
        try:
            with self.database.write() as session:
                job = accounting.settle(session, job_id, charge, now=now)
                job.upstream_status, job.upstream_charge = status, charge
                job.polls = (job.polls or 0) + 1
                job.next_poll_at = None
                self._learn(job, now)
        except HoldEnded:
            return "already_ended"
        return "settled"

    def _settle_deleted(self, job_id: str, now: datetime) -> str:
        """Upstream no longer knows the project: settle to the last charge we know of."""
        try:
            with self.database.write() as session:
                job = session.get(Job, job_id)
                assert job is not None
                known = job.upstream_charge
                charge = known if known is not None else job.held_credits
                accounting.settle(session, job_id, charge, now=now, flag="deleted_upstream")
                job.polls = (job.polls or 0) + 1
                job.next_poll_at = None
        except HoldEnded:
            return "already_ended"
        log.warning("job %s: project gone upstream; settled at last known charge", job_id)
        return "deleted_upstream"

    def _reschedule(
        self,
        job_id: str,
        when: datetime,
        *,
        polled: bool,
        status: Any = None,
        charge: int | None = None,
    ) -> None:
        values: dict[str, Any] = {"next_poll_at": when}
        if polled:
            values["polls"] = Job.polls + 1
        if isinstance(status, str):
            values["upstream_status"] = status[:16]
        if charge is not None:
            values["upstream_charge"] = charge
        with self.database.write() as session:
            job = session.get(Job, job_id)
            if job is not None and job.submitted_at and utcnow() - job.submitted_at > STUCK_AFTER:
                values["flag"] = job.flag or "stuck"
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.SUBMITTED.value)
                .values(**values)
            )

    def _backoff(self, job_id: str) -> datetime:
        """After a poll that did not settle: soon at first, then less often, with jitter."""
        with self.database.read() as session:
            polls = session.scalar(select(Job.polls).where(Job.id == job_id)) or 0
        factor = min(1.5 ** max(polls - 1, 0), 12.0)
        delay = self.poll_interval * factor * random.uniform(0.8, 1.0)
        return utcnow() + timedelta(seconds=delay)

    # -- predicting and learning how long jobs take -----------------------------------------

    def predicted_duration(self, endpoint: str, kind: str, clip: float | None) -> timedelta:
        timing = self._timing(endpoint, kind)
        seconds = timing.base + timing.per_clip_second * (clip or 0.0)
        return timedelta(seconds=max(seconds, 0.0))

    def _timing(self, endpoint: str, kind: str) -> Timing:
        with self._lock:
            if endpoint not in self.timings:
                self.timings[endpoint] = Timing(
                    PRIOR_BASE_SECONDS.get(kind, 10.0), PRIOR_SECONDS_PER_CLIP_SECOND
                )
            return self.timings[endpoint]

    def _learn(self, job: Job, now: datetime) -> None:
        """Fold a finished job's duration into its endpoint's timing (only clean observations:
        seen finished on the first poll, so the true end lies between submission and now)."""
        if job.submitted_at is None or job.polls != 1:
            took = None
        else:
            took = (now - job.submitted_at).total_seconds()
        if took is None:
            return
        timing = self._timing(job.endpoint, job.kind)
        with self._lock:
            clip = job.clip_seconds or 0.0
            predicted = timing.base + timing.per_clip_second * clip
            error = took - predicted
            # Split the correction between the fixed part and the per-second part.
            if clip > 0:
                timing.per_clip_second = max(
                    0.0, timing.per_clip_second + LEARNING_RATE * error / (clip + 1) * 0.5
                )
            timing.base = max(0.0, timing.base + LEARNING_RATE * error * 0.5)
            timing.samples += 1

    # -- jobs without an upstream project ---------------------------------------------------

    def mark_stale_reserved(self, now: datetime) -> int:
        """A ``reserved`` job whose request died between hold and answer: outcome unknown."""
        with self.database.write() as session:
            result = session.execute(
                update(Job)
                .where(
                    Job.status == JobStatus.RESERVED.value,
                    Job.created_at < now - self.reserved_stale_after,
                )
                .values(status=JobStatus.UNKNOWN.value, flag="request_interrupted")
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def expire_unknown(self, now: datetime) -> int:
        """Release unknown jobs held longer than ``LEDGER_UNKNOWN_HOLD_HOURS``, flagged."""
        with self.database.read() as session:
            expired = session.scalars(
                select(Job.id)
                .where(
                    Job.status == JobStatus.UNKNOWN.value,
                    Job.created_at < now - self.unknown_hold,
                )
                .limit(self.batch)
            ).all()
        released = 0
        for job_id in expired:
            try:
                with self.database.write() as session:
                    accounting.release(session, job_id, flag="unknown_expired", now=now)
                released += 1
            except HoldEnded:
                continue
        return released

    # -- webhooks and admin -----------------------------------------------------------------

    def poll_now(self, upstream_id: str) -> tuple[str, str] | None:
        """Poll the job of an upstream project right away (a webhook said it changed).

        Returns (job id, what happened), or None if no open job has that project.
        """
        with self.database.read() as session:
            row = session.execute(
                select(Job.id, Job.kind, Job.status).where(Job.upstream_id == upstream_id)
            ).first()
        if row is None:
            return None
        job_id, kind, status = row
        if status != JobStatus.SUBMITTED.value:
            return job_id, f"already {status}"
        return job_id, self.poll(job_id, upstream_id, kind)


def _seconds(value: str | None, *, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return min(max(seconds, 0.0), 3600.0)


def resolve_unknown(database: Database, job_id: str, *, upstream_id: str | None) -> None:
    """An admin knows what became of an ``unknown`` job: its upstream project (then it is polled
    and settled like any other), or that there is none (then its hold is released)."""
    with database.write() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.status != JobStatus.UNKNOWN.value:
            raise Conflict(f"job {job_id} is {job.status}, not unknown")
        if upstream_id is None:
            accounting.release(session, job_id, flag="released_by_admin")
            return
        owner = session.scalar(select(Job.id).where(Job.upstream_id == upstream_id))
        if owner is not None:
            raise Conflict(f"project {upstream_id} already belongs to job {owner}")
        now = utcnow()
        job.upstream_id, job.status, job.flag = upstream_id, JobStatus.SUBMITTED.value, "resolved"
        job.submitted_at, job.next_poll_at = job.submitted_at or now, now

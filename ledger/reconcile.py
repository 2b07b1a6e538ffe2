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

With webhooks on (``LEDGER_WEBHOOK_SECRET``), a verified terminal event settles its job without
any poll (:mod:`ledger.webhooks.inbox`); the sweep's first poll of a job is then only a safety
net, put well after the job's predicted end.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, case, select, update
from sqlalchemy.exc import SQLAlchemyError

from ledger import accounting
from ledger.db import Database
from ledger.errors import Conflict, HoldEnded
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
# Learning when to look first (see Reconciler._observe_first_poll).
FIRST_POLL_DONE = 0.6  # aim: most first polls find the job done (issue 15: GETs per job)
LEARNING_STEP = 0.5  # log-step per turnover of the jobs awaiting their first poll
MIN_FACTOR, MAX_FACTOR = 0.25, 4.0
FLAT_POLLS = 8  # polls 2..8 of a job come every two intervals, then they spread out
MAX_BATCHES_PER_SWEEP = 10
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
    """The prior guess of how long a job of one endpoint takes: a fixed part plus a part per
    second of clip (real seconds)."""

    base: float
    per_clip_second: float


@dataclass(frozen=True)
class Claimed:
    """A due job, claimed by this worker until its lease runs out."""

    job_id: str
    upstream_id: str
    kind: str
    polls: int
    endpoint: str
    clip_seconds: float | None


def clip_bucket(clip: float | None) -> int:
    """Clip lengths grouped by powers of two: jobs of a bucket take alike."""
    return int(math.log2(max(clip or 1.0, 1.0)))


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
    # With webhooks a job's end is announced: the sweep's first poll is only a safety net.
    expect_webhooks: bool = False
    timings: dict[str, Timing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.max_requests_per_second)
        self._lock = threading.Lock()
        # Learned correction of the prior per (endpoint, clip bucket), and how many jobs of each
        # were scheduled but not polled yet (the pipeline the correction's effect travels in).
        self.factors: dict[tuple[str, int], float] = {}
        self.pending: dict[tuple[str, int], int] = {}

    # -- the sweep ----------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """One pass: schedule, claim, poll, settle, tidy. Safe to run anywhere, any number.

        Claims batch after batch while full batches come back (a backlog is worked off in one
        sweep, under the rate cap), up to ``MAX_BATCHES_PER_SWEEP``.
        """
        report = SweepReport()
        now = now or utcnow()
        report.scheduled = self.schedule_new(now)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="poll") as pool:
            for _ in range(MAX_BATCHES_PER_SWEEP):
                claimed = self.claim_due(now)
                report.claimed += len(claimed)
                for polled, outcome in pool.map(self._poll_claimed, claimed):
                    report.polled += polled
                    setattr(report, outcome, getattr(report, outcome) + 1)
                if len(claimed) < self.batch:
                    break
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
                first = start + self.predicted_duration(endpoint, kind, clip, count=True)
                session.execute(update(Job).where(Job.id == job_id).values(next_poll_at=first))
        return len(rows)

    def claim_due(self, now: datetime) -> list[Claimed]:
        """Claim up to ``batch`` due jobs, pushing their next poll a lease ahead."""
        with self.database.write() as session:
            rows = session.execute(
                select(Job.id, Job.upstream_id, Job.kind, Job.polls, Job.endpoint, Job.clip_seconds)
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
        # Submitted jobs always have an upstream id.
        return [Claimed(r[0], r[1] or "", r[2], r[3] or 0, r[4], r[5]) for r in rows]

    def _poll_claimed(self, job: Claimed) -> tuple[bool, str]:
        paused = self.limiter.paused_for()
        if paused > 0:  # upstream asked us to wait (429): do not even try
            self._reschedule(job.job_id, utcnow() + timedelta(seconds=paused), polled=False)
            return False, "rescheduled"
        try:
            return True, self.poll(job.job_id, job.upstream_id, job.kind, claimed=job)
        except SQLAlchemyError:
            # The database failed to record what the poll found (busy, deadlocked, gone; were
            # it lost in the commit, the next poll finds the hold ended). The job is polled
            # again at the next sweep rather than when its claim runs out, and the batch's
            # other jobs go on; if even rescheduling fails, the lease runs out as before.
            log.exception("job %s: the database failed after its poll", job.job_id)
            with contextlib.suppress(SQLAlchemyError):
                self._reschedule(job.job_id, utcnow(), polled=False)
            return True, "errors"

    # -- one job ------------------------------------------------------------------------------

    def poll(
        self, job_id: str, upstream_id: str, kind: str, *, claimed: Claimed | None = None
    ) -> str:
        """GET the project and act on what it says; returns what happened."""
        outcome = self._poll(job_id, upstream_id, kind, claimed)
        POLLS.labels(outcome).inc()
        return outcome

    def _poll(self, job_id: str, upstream_id: str, kind: str, claimed: Claimed | None) -> str:
        polls = claimed.polls if claimed else None
        self.limiter.acquire()
        try:
            reply = self.upstream.request(
                "GET", f"/v1/{kind}-projects/{quote(upstream_id, safe='')}"
            )
        except (UpstreamUnreachable, UpstreamUnknown) as exc:
            log.warning("poll of job %s failed: %s", job_id, exc)
            self._reschedule(job_id, self._backoff(polls), polled=True)
            return "errors"
        if claimed is not None and claimed.polls == 0 and reply.ok and not self.expect_webhooks:
            project = reply.json()
            if isinstance(project, dict):
                self._observe_first_poll(claimed, done=project.get("status") in TERMINAL)
        return self.apply(job_id, reply, polls=polls)

    def apply(self, job_id: str, reply: UpstreamReply, *, polls: int | None = None) -> str:
        """Act on a project GET's answer for the job (``polls``: how many it had before)."""
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
            self._reschedule(job_id, self._backoff(polls), polled=True)
            return "errors"
        status = project.get("status")
        charge = project.get("credits_charged")
        charge = charge if isinstance(charge, int) and not isinstance(charge, bool) else None
        if status in TERMINAL and charge is not None and charge >= 0:
            return self._settle(job_id, status, charge, now)
        self._reschedule(job_id, self._backoff(polls), polled=True, status=status, charge=charge)
        return "rescheduled"

    def _settle(self, job_id: str, status: str, charge: int, now: datetime) -> str:
        try:
            with self.database.write() as session:
                job = accounting.settle(session, job_id, charge, now=now)
                job.upstream_status, job.upstream_charge = status, charge
                job.polls = (job.polls or 0) + 1
                job.next_poll_at = None
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
        # Polled for a day and still not done: flagged (and still polled).
        values["flag"] = case(
            (and_(Job.flag.is_(None), Job.submitted_at < utcnow() - STUCK_AFTER), "stuck"),
            else_=Job.flag,
        )
        with self.database.write() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.SUBMITTED.value)
                .values(**values)
            )

    def _backoff(self, polls: int | None) -> datetime:
        """After a poll that did not settle (``polls``: how many came before it): one interval
        after the first two polls, then two intervals up to the eighth (the job should be close
        to done), then less and less often (x1.5 each, at most 12 intervals); with jitter."""
        polls = polls or 0
        if polls <= 1:
            factor = 1.0
        elif polls <= FLAT_POLLS:
            factor = 2.0
        else:
            factor = min(2.0 * 1.5 ** (polls - FLAT_POLLS), 12.0)
        delay = self.poll_interval * factor * random.uniform(0.8, 1.0)
        return utcnow() + timedelta(seconds=delay)

    # -- predicting how long jobs take --------------------------------------------------------

    def predicted_duration(
        self, endpoint: str, kind: str, clip: float | None, *, count: bool = False
    ) -> timedelta:
        """When to look first: the prior for the endpoint times what was learned for its clip
        length. ``count``: a job is being scheduled (its first poll will teach us)."""
        key = (endpoint, clip_bucket(clip))
        with self._lock:
            timing = self.timings.setdefault(
                endpoint,
                Timing(PRIOR_BASE_SECONDS.get(kind, 10.0), PRIOR_SECONDS_PER_CLIP_SECOND),
            )
            factor = self.factors.get(key, 1.0)
            if count:
                self.pending[key] = self.pending.get(key, 0) + 1
        seconds = (timing.base + timing.per_clip_second * (clip or 0.0)) * factor
        if self.expect_webhooks:
            seconds = 2 * seconds + 12 * self.poll_interval
        return timedelta(seconds=max(seconds, 0.0))

    def _observe_first_poll(self, job: Claimed, *, done: bool) -> None:
        """A quantile tracker: was the job done when first looked at? Move the guess for its
        endpoint and clip length a little earlier if so, later if not, so that it settles where
        ``FIRST_POLL_DONE`` of first polls find the job done. (Upstream never says when a job
        really finished; this needs no such time.) The step is shared out over the jobs still
        waiting for their first poll, since each correction shows only a render time later."""
        key = (job.endpoint, clip_bucket(job.clip_seconds))
        with self._lock:
            pending = max(1, self.pending.get(key, 0))
            self.pending[key] = pending - 1
            step = LEARNING_STEP / pending * (-(1 - FIRST_POLL_DONE) if done else FIRST_POLL_DONE)
            factor = self.factors.get(key, 1.0) * math.exp(step)
            self.factors[key] = min(max(factor, MIN_FACTOR), MAX_FACTOR)

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
        """Poll the job of an upstream project right away.

        Returns (job id, what happened), or None if no job has that project.
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

    def close(self) -> None:
        """Nothing to release (kept for the services' shutdown)."""


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
        job = accounting.lock_job(session, job_id)  # with its balance, in the lock order
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

"""Learned prices: what Magic Hour actually charged, per pricing key, and the estimates it raises.

Magic Hour changes its rates and publishes none for some models (CONTRACT §4a). Every charge
that says something about a price is kept as a :class:`~ledger.models.PriceObservation`, in the
transaction that records the charge:

- a charge above the table's estimate (the create response's, or the final one), and
- every charge of a key the table has no published rate for (``basis: fallback``).

From the last :data:`WINDOW` of them, :class:`LearnedPrices` corrects estimates:

- a key with a published rate, once charged more than the table said, is estimated at the table
  x the largest ratio of charge to table estimate seen (``basis: learned``); what is observed
  never lowers a published rate;
- a key without one, after :data:`SETTLED_TO_LEARN` settled jobs, at the fallback x the largest
  ratio seen: below the fallback, never below any charge seen for the same request.

Each process keeps the learned ratios in memory and reads them again when they are older than
:data:`REFRESH_SECONDS` (one small grouped query), or at once after it recorded an observation
itself, so a price learned on one instance reaches the others within about a second. An estimate
made in between is at worst the table's, whose shortfall is charged and flagged as before.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger import alerts, zones
from ledger.models import Job, JobStatus, PriceObservation, utcnow
from ledger.pricing.rules import FALLBACK, LEARNED, TABLE, Estimate

log = logging.getLogger("ledger.pricing")

WINDOW = timedelta(days=30)
SETTLED_TO_LEARN = 3
REFRESH_SECONDS = 1.0

Key = tuple[str, str | None, str | None, bool | None]  # endpoint, model, resolution, audio


def key_of(job: Job) -> Key:
    return (job.endpoint, job.model, job.resolution, job.audio)


def describe(key: Key) -> str:
    """``image-to-video kling-3.0 720p audio`` for messages."""
    endpoint, model, resolution, audio = key
    parts = [endpoint, model or "(no model)"]
    if resolution:
        parts.append(resolution)
    if audio is not None:
        parts.append("audio" if audio else "no audio")
    return " ".join(parts)


# -- writing, inside the accounting core's transactions ----------------------------------------


def says_something(table: int | None, basis: str | None, charged: int) -> bool:
    """Whether a charge of ``charged`` for a job priced at ``table`` credits (on ``basis``) says
    something about the price: a charge above a published rate, or any charge of a key without
    one. A charge of 0 (a refund, a free tool) says nothing; jobs from before pricing keys have
    no table estimate."""
    if table is None or table <= 0 or charged <= 0:
        return False
    return not (charged <= table and basis == TABLE)


def observe(session: Session, job: Job, charged: int, stage: str, now: datetime) -> bool:
    """Record ``charged`` for ``job`` if it says something about the price; True if recorded.

    ``stage`` is ``create`` (the create response) or ``final`` (the settled charge)
    (:func:`says_something`).
    """
    if not says_something(job.table_credits, job.basis, charged):
        return False
    table = job.table_credits
    assert table is not None
    session.add(
        PriceObservation(
            endpoint=job.endpoint,
            model=job.model,
            resolution=job.resolution,
            audio=job.audio,
            job_id=job.id,
            stage=stage,
            table_credits=table,
            charged=charged,
            observed_at=now,
        )
    )
    _recorded_here.set()
    return True


def alert_under_reserved(session: Session, job: Job, charged: int, now: datetime) -> None:
    """Once per pricing key and billing month (the calendar month in the billing time zone, as
    reports and chargeback count it): Magic Hour charged more than ledger held.

    Only for jobs priced by the table (jobs from before pricing keys, or reserved by hand, have
    their per-job overrun alert and no key to speak of)."""
    if job.table_credits is None:
        return
    key = key_of(job)
    alerts.record(
        session,
        team_id=job.team_id,
        kind="under_reserved",
        dedupe_key=f"under_reserved:{zones.local_date(now):%Y-%m}:{describe(key)}"[:200],
        message=f"{describe(key)} was charged {charged} credits where {job.estimated_credits} "
        f"were reserved (job {job.id}); later estimates of it learn from this",
        balance_id=job.balance_id,
        job_id=job.id,
        details={
            "endpoint": job.endpoint,
            "model": job.model,
            "resolution": job.resolution,
            "audio": job.audio,
            "charged": charged,
            "estimated": job.estimated_credits,
        },
    )


class _Flag:
    """Set when this process recorded an observation: its cache should be read again."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def take(self) -> bool:
        was, self._set = self._set, False
        return was


_recorded_here = _Flag()


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Learned:
    """What the window says about one pricing key."""

    max_ratio: Fraction  # the largest charge / table estimate seen
    settled: int  # settled jobs with a charge

    def applies_to(self, basis: str) -> bool:
        if basis == TABLE:
            return self.max_ratio > 1
        return basis == FALLBACK and self.settled >= SETTLED_TO_LEARN and self.max_ratio > 0


def _ratio(value: Any) -> Fraction:
    # The ratio of two whole numbers, read back exactly for any table estimate up to a million;
    # past that it may be off in the 13th digit, which moves an estimate by at most a credit.
    return Fraction(float(value)).limit_denominator(1_000_000)


def read_learned(session: Session, since: datetime) -> dict[Key, Learned]:
    """The learned ratio and settled count per pricing key, from observations since ``since``."""
    o = PriceObservation
    rows = session.execute(
        select(
            o.endpoint,
            o.model,
            o.resolution,
            o.audio,
            func.max(cast(o.charged, Float) / o.table_credits),
            func.count(func.distinct(case((o.stage == "final", o.job_id)))),
        )
        .where(o.observed_at >= since)
        .group_by(o.endpoint, o.model, o.resolution, o.audio)
    )
    return {
        (endpoint, model, resolution, audio): Learned(_ratio(ratio), int(settled))
        for endpoint, model, resolution, audio, ratio, settled in rows
    }


class LearnedPrices:
    """Applies what was learned to estimates; shared by every request of one process."""

    def __init__(
        self,
        read: Callable[[], Any],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``read`` opens a read-only session (``Database.read``)."""
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._learned: dict[Key, Learned] = {}
        self._loaded_at = -math.inf

    def learned(self) -> dict[Key, Learned]:
        """The current learned ratios (read again when stale)."""
        now = self._clock()
        forced = _recorded_here.take()
        if forced or now - self._loaded_at >= REFRESH_SECONDS:
            with self._lock:
                # Threads that found it stale together read it once: a read begun since this
                # thread looked will do (and one begun in the last second, unless forced).
                fresh_since = now if forced else now - REFRESH_SECONDS
                if self._loaded_at <= fresh_since:
                    self._load()
        return self._learned

    def _load(self) -> None:
        started = self._clock()
        try:
            with self._read() as session:
                self._learned = read_learned(session, utcnow() - WINDOW)
        except SQLAlchemyError:
            # The database is away: keep what we knew; the hold will say 503 anyway.
            log.warning("could not read learned prices; using the last ones read")
        self._loaded_at = started

    def forget(self) -> None:
        """Read again on the next estimate (after an observation this process did not see)."""
        self._loaded_at = -math.inf

    def apply(self, estimate: Estimate) -> Estimate:
        """``estimate`` raised (or, for a fallback, lowered) by what was learned of its key."""
        learned = self.learned().get(estimate.key)
        if learned is None or not learned.applies_to(estimate.basis):
            return estimate
        credits = math.ceil(estimate.credits * learned.max_ratio)
        return replace(estimate, credits=credits, basis=LEARNED, table_credits=estimate.credits)


# -- the report (GET /api/pricing/observed, ledger pricing check) ------------------------------


@dataclass(frozen=True)
class ObservedRow:
    endpoint: str
    model: str | None
    resolution: str | None
    audio: bool | None
    jobs: int
    estimated: int
    charged: int
    under_reserved: int
    max_ratio: float | None
    basis: str

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "resolution": self.resolution,
            "audio": self.audio,
            "jobs": self.jobs,
            "estimated": self.estimated,
            "charged": self.charged,
            "under_reserved": self.under_reserved,
            "max_ratio": self.max_ratio,
            "basis": self.basis,
        }


UNDER_RESERVED_FLAGS = ("under_reserved", "overrun")


def observed(
    session: Session,
    since: datetime,
    until: datetime,
    basis_of: Callable[[Key], str],
) -> list[ObservedRow]:
    """One row per pricing key of the jobs created in ``[since, until)``.

    ``charged`` sums settled jobs; ``under_reserved`` counts jobs charged more than they held
    (at create or at the end); ``max_ratio`` is the largest charge / table estimate seen, over
    the jobs and the observations of the window; ``basis`` is how the key is estimated now.
    """
    j = Job
    ratio = case(
        (
            and_(j.table_credits > 0, j.charged_credits > 0),
            cast(j.charged_credits, Float) / j.table_credits,
        )
    )
    rows = session.execute(
        select(
            j.endpoint,
            j.model,
            j.resolution,
            j.audio,
            func.count(),
            func.coalesce(func.sum(j.estimated_credits), 0),
            func.coalesce(
                func.sum(case((j.status == JobStatus.SETTLED.value, j.charged_credits))), 0
            ),
            func.count(
                case(
                    (
                        or_(
                            j.flag.in_(UNDER_RESERVED_FLAGS),
                            j.charged_credits > j.estimated_credits,
                        ),
                        1,
                    )
                )
            ),
            func.max(ratio),
        )
        .where(j.created_at >= since, j.created_at < until)
        .group_by(j.endpoint, j.model, j.resolution, j.audio)
    ).all()
    learned = read_learned(session, since)
    report = []
    for endpoint, model, resolution, audio, jobs, estimated, charged, under, max_ratio in rows:
        key = (endpoint, model, resolution, audio)
        seen = [float(r) for r in (max_ratio,) if r is not None]
        if key in learned:
            seen.append(float(learned[key].max_ratio))
        report.append(
            ObservedRow(
                endpoint,
                model,
                resolution,
                audio,
                int(jobs),
                int(estimated),
                int(charged),
                int(under),
                round(max(seen), 6) if seen else None,
                basis_of(key),
            )
        )
    report.sort(key=lambda r: (r.endpoint, r.model or "", r.resolution or "", str(r.audio)))
    return report

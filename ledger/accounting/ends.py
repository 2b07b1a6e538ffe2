"""How a hold ends: it may first be moved to what upstream says it charged
(:func:`adjust_hold`), then ends exactly once, posted to ``spent`` (:func:`settle`, any amount;
the rest returns to ``available``) or voided back to ``available`` (:func:`release`).

Each of them locks rows in the lock order of :mod:`ledger.accounting`: :func:`lock_job` reads the
job's balance id unlocked (it never changes), locks the **balance** row, and only then the
**job** row. :func:`_end` is the guard that makes a hold end once: a conditional ``UPDATE`` that
only an open job matches. A charge or a larger hold that raises the team's usage may cross an
alert threshold (:func:`_usage_rose`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ledger import alerts, rollups
from ledger.accounting import settle_sql
from ledger.accounting.postings import (
    NO_KEY_UPDATE,
    _balances,
    _check_amount,
    _jobs,
    _post,
    _posting,
    _rowcount,
)
from ledger.accounting.settle_sql import SeenHold
from ledger.db import Database, Hot
from ledger.errors import HoldEnded, NotFound
from ledger.models import OPEN_STATUSES, Balance, EntryKind, Job, JobStatus, Team, utcnow
from ledger.pricing import learning


def _locked_open_job(session: Session, job_id: str) -> Job:
    job = lock_job(session, job_id)
    if job.status not in OPEN_STATUSES:
        raise HoldEnded(f"job {job_id} has already ended ({job.status})")
    return job


def lock_job(session: Session, job_id: str) -> Job:
    """The job, locked after its balance (the lock order of :mod:`ledger.accounting`)."""
    balance_id = session.scalar(select(Job.balance_id).where(Job.id == job_id))
    if balance_id is None:
        raise NotFound(f"no job {job_id!r}")
    session.execute(
        select(Balance.id).where(Balance.id == balance_id).with_for_update(key_share=True)
    )
    job = session.get(Job, job_id, with_for_update=NO_KEY_UPDATE, populate_existing=True)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def adjust_hold(session: Session, job_id: str, credits: int, *, now: datetime | None = None) -> Job:
    """Move an open hold to ``credits`` (what upstream says it charged at create time).

    Upstream has already charged, so a larger hold is taken even if it leaves the team below
    zero; the job is then flagged ``under_reserved`` and its pricing key alerts (once a month).
    What the charge says about the price is recorded for learned prices.
    """
    now = now or utcnow()
    _check_amount(credits)
    job = _locked_open_job(session, job_id)
    difference = credits - job.held_credits
    if difference == 0:
        return job
    kind = EntryKind.HOLD_INCREASE if difference > 0 else EntryKind.HOLD_DECREASE
    _post(
        session,
        balance_id=job.balance_id,
        team_id=job.team_id,
        job_id=job.id,
        postings=[_posting(kind, abs(difference))],
        now=now,
    )
    job.held_credits = credits
    if credits > job.estimated_credits:
        job.flag = "under_reserved"
        learning.alert_under_reserved(session, job, credits, now)
    learning.observe(session, job, credits, "create", now)
    session.flush()
    rollups.record(session, job, held=difference, released=max(-difference, 0))
    _usage_rose(session, job, difference)
    return job


def settle(
    session: Session,
    job_id: str,
    charged: int,
    *,
    flag: str | None = None,
    now: datetime | None = None,
) -> Job:
    """End the hold by charging ``charged`` credits: up to the hold is posted to spent, the rest
    of the hold returns to available, and anything beyond it is charged all the same (the work
    was done) as an overrun, which may take the team below zero and flags the job.

    Raises :class:`HoldEnded`, changing nothing, if the hold already ended.
    """
    now = now or utcnow()
    _check_amount(charged)
    job = _locked_open_job(session, job_id)
    held = job.held_credits
    overrun = charged > job.estimated_credits or charged > held
    _end(
        session,
        job,
        JobStatus.SETTLED,
        charged=charged,
        flag=flag or ("overrun" if overrun else None),
        now=now,
    )
    if overrun:
        alerts.record(
            session,
            team_id=job.team_id,
            kind="overrun",
            dedupe_key=f"overrun:{job.id}",
            message=f"job {job.id} ({job.endpoint}) was charged {charged} credits; "
            f"{job.estimated_credits} were reserved",
            balance_id=job.balance_id,
            job_id=job.id,
            details={"charged": charged, "estimated": job.estimated_credits},
        )
        if charged > job.estimated_credits:
            learning.alert_under_reserved(session, job, charged, now)
    learning.observe(session, job, charged, "final", now)
    _post(
        session,
        balance_id=job.balance_id,
        team_id=job.team_id,
        job_id=job.id,
        postings=[
            _posting(EntryKind.SETTLE, min(charged, held)),
            _posting(EntryKind.RETURN, max(held - charged, 0)),
            _posting(EntryKind.OVERRUN, max(charged - held, 0)),
        ],
        now=now,
    )
    rollups.record(session, job, held=-held, spent=charged, released=max(held - charged, 0))
    _usage_rose(session, job, charged - held)
    return job


def settle_seen(
    database: Database, seen: SeenHold, charged: int, *, now: datetime | None = None
) -> bool:
    """:func:`settle` for the common case, without reading the job again: a hold just seen open
    (``seen``) and charged no more than it holds and was estimated, a charge that says nothing
    new about the price (no overrun, no alert, no observation). It runs like a hold, through
    ``Database.hot()`` (:mod:`ledger.accounting.settle_sql`).

    True if this call ended the hold. False, having changed nothing, if the settle is not plain
    or the job is no longer as seen (ended meanwhile, or its hold moved): the caller then calls
    :func:`settle`, which decides (and raises :class:`HoldEnded` if the hold has ended).
    """
    _check_amount(charged)
    plain = charged <= seen.held and charged <= seen.estimated
    if not plain or learning.says_something(seen.table_credits, seen.basis, charged):
        return False
    now = now or utcnow()
    returned = seen.held - charged
    params = {
        "job_id": seen.job_id,
        "team_id": seen.team_id,
        "balance_id": seen.balance_id,
        "held": seen.held,
        "charged": charged,
        "returned": returned,
        "ended_at": now,
        "created_at": now,
        **rollups.changes(
            team_id=seen.team_id,
            created_at=seen.created_at,
            endpoint=seen.endpoint,
            model=seen.model,
            key_id=seen.key_id,
            held=-seen.held,
            spent=charged,
            released=returned,
        ),
    }
    if database.is_sqlite:
        return database.write_together(lambda hot: _settle_seen_in_turn(hot, params))
    with database.hot() as hot:
        row = hot.first(settle_sql.SETTLE_IN_ONE_STATEMENT, params)
    return row is not None and row[0] == 1


def _settle_seen_in_turn(hot: Hot, params: dict[str, Any]) -> bool:
    """SQLite, inside the group commit's ``BEGIN IMMEDIATE``: the job first (only if it is as
    seen), then the balance, the entries and the rollup."""
    if hot.first(settle_sql.END_IF_AS_SEEN, params) is None:
        return False
    hot.execute(settle_sql.MOVE_BALANCE, params)
    for posting in (
        _posting(EntryKind.SETTLE, params["charged"]),
        _posting(EntryKind.RETURN, params["returned"]),
    ):
        if posting.credits > 0:
            entry = {
                "kind": posting.kind.value,
                "from_account": posting.from_account,
                "to_account": posting.to_account,
                "credits": posting.credits,
            }
            hot.execute(settle_sql.INSERT_ENTRY, {**params, **entry})
    hot.execute(rollups.upsert(hot.dialect_name), params)
    return True


def release(
    session: Session,
    job_id: str,
    *,
    flag: str | None = None,
    now: datetime | None = None,
) -> Job:
    """End the hold with nothing charged: all of it returns to available.

    Raises :class:`HoldEnded`, changing nothing, if the hold already ended.
    """
    now = now or utcnow()
    job = _locked_open_job(session, job_id)
    held = job.held_credits
    _end(session, job, JobStatus.RELEASED, charged=None, flag=flag, now=now)
    _post(
        session,
        balance_id=job.balance_id,
        team_id=job.team_id,
        job_id=job.id,
        postings=[_posting(EntryKind.RELEASE, held)],
        now=now,
    )
    rollups.record(session, job, held=-held, released=held)
    return job


def _end(
    session: Session,
    job: Job,
    status: JobStatus,
    *,
    charged: int | None,
    flag: str | None,
    now: datetime,
) -> None:
    # The guard that makes a hold end once, enforced by the database: only an open job matches.
    values: dict[str, Any] = {
        "status": status.value,
        "held_credits": 0,
        "charged_credits": charged,
        "ended_at": now,
    }
    if flag:
        values["flag"] = flag
    ended = _rowcount(
        session.execute(
            update(_jobs)
            .where(_jobs.c.id == job.id, _jobs.c.status.in_([s.value for s in OPEN_STATUSES]))
            .values(**values)
        )
    )
    if ended != 1:
        raise HoldEnded(f"job {job.id} has already ended")
    for name, value in values.items():  # the row changed under the ORM; tell it, unflushed
        set_committed_value(job, name, value)


def _usage_rose(session: Session, job: Job, rise: int) -> None:
    """After a hold grew or a charge beat its hold: tell the alerts which thresholds it crossed."""
    if rise <= 0:
        return
    row = session.execute(
        select(
            Team.slug,
            Team.alert_thresholds,
            _balances.c.budget + _balances.c.adjustments,
            _balances.c.spent + _balances.c.held,
        )
        .join(Balance, Balance.team_id == Team.id)
        .where(Balance.id == job.balance_id)
    ).one()
    slug, thresholds, funded, used = row
    alerts.on_usage_rise(
        session,
        team_id=job.team_id,
        team_slug=slug,
        balance_id=job.balance_id,
        thresholds=thresholds,
        funded=funded,
        used_after=used,
        rise=rise,
    )

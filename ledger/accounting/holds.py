"""Taking a hold: a pending transfer from a team's ``available`` account to its ``held`` one.

Two ways in, the same statements (:mod:`ledger.accounting.hold_sql`): :func:`hold_for_key`, the
create path's, finds the live key's team and takes the hold through ``Database.hot()`` (on
PostgreSQL in one statement; on SQLite committed together with this process's other holds), and
:func:`reserve`, the same in a session's transaction. The budget check and the hold are one
conditional ``UPDATE`` of the period's balance row (the one row lock a hold takes: step 2 of the
lock order in :mod:`ledger.accounting`), so racing holds can never together take more than is
available. A hold that is not taken raises :class:`BudgetExceeded` (:func:`_refusal`) having
changed nothing. How a hold ends is in :mod:`ledger.accounting.ends`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger import alerts, rollups
from ledger.accounting.balances import _period_starts, current_balance
from ledger.accounting.hold_sql import (
    _AVAILABLE,
    _HOLD_BY_KEY_IN_ONE_STATEMENT,
    _HOLD_IN_ONE_STATEMENT,
    _INSERT_HOLD_ENTRY,
    _INSERT_JOB,
    _PAYER_OF_KEY,
    _PAYER_OF_TEAM,
    _TAKE_HOLD,
    PRICING_COLUMNS,
)
from ledger.accounting.postings import _check_amount
from ledger.db import Database, InSession
from ledger.errors import BudgetExceeded, NotFound
from ledger.models import Job, JobStatus, Team, new_id, utcnow

log = logging.getLogger("ledger.accounting")


class KeyLimits(Protocol):
    """What a hold needs to know of the key it is made with (an ApiKey row, or a cached copy)."""

    @property
    def id(self) -> str: ...

    @property
    def max_credits_per_request(self) -> int | None: ...


@dataclass(frozen=True)
class Payer:
    """Whom a hold is taken from: a team's current balance, and the caps that apply."""

    team_id: int
    team_slug: str
    team_cap: int | None
    thresholds: list[int] | None
    balance_id: int | None  # None until the period's first hold opens it
    key_id: str | None = None
    key_cap: int | None = None


class _Statements(Protocol):
    """Where a hold's statements run: ``Database.hot()``, or a session's transaction."""

    dialect_name: str

    def first(self, statement: Any, params: dict[str, Any]) -> Any: ...

    def execute(self, statement: Any, params: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class Hold:
    """A hold just taken for a new job (what the create path needs of it)."""

    job_id: str
    team_id: int
    team_slug: str
    key_id: str | None
    key_cap: int | None
    credits: int
    available_after: int


def hold_for_key(
    database: Database,
    key_hash: str,
    credits: int,
    *,
    endpoint: str,
    kind: str,
    model: str | None = None,
    tags: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    clip_seconds: float | None = None,
    job_id: str | None = None,
    priced: Mapping[str, Any] | None = None,
) -> Hold | None:
    """The create path's :func:`reserve`: find the live key's team and hold ``credits`` for a
    new job, committed before this returns. None if no live key has this hash; raises
    :class:`BudgetExceeded` having changed nothing. A budget threshold the hold crosses is
    recorded as an alert just after, in a transaction of its own (it is rare; the hold is not)."""
    now = utcnow()
    _check_amount(credits)
    fields = _job_row(
        credits,
        endpoint=endpoint,
        kind=kind,
        model=model,
        tags=tags,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        clip_seconds=clip_seconds,
        job_id=job_id,
        priced=priced,
        now=now,
    )
    lookup = {"key_hash": key_hash, **_period_starts(now)}
    if not database.is_sqlite:
        found = _hold_by_key_in_one_statement(database, lookup, fields)
        if found is None:
            return None
        payer, available_after, funded = found
    else:
        with database.hot() as hot:
            row = hot.first(_PAYER_OF_KEY, lookup)
        if row is None:
            return None
        payer = _opened(database, Payer(*row), now)
        job = {**fields, **_paid_by(payer)}
        available_after, funded = database.write_together(lambda hot: _take(hot, payer, job))
    if alerts.crossed(payer.thresholds, funded, funded - available_after, credits):
        try:
            with database.write() as session:
                _alert_on_rise(session, payer, funded, available_after, credits)
        except SQLAlchemyError:
            # An alert is never a reason for a create to fail: the hold is committed, and the
            # caller's request goes on. The threshold alert is lost (logged here).
            log.exception("could not record a budget alert for team %s", payer.team_slug)
    return Hold(
        fields["id"],
        payer.team_id,
        payer.team_slug,
        payer.key_id,
        payer.key_cap,
        credits,
        available_after,
    )


def _hold_by_key_in_one_statement(
    database: Database, lookup: dict[str, Any], fields: dict[str, Any]
) -> tuple[Payer, int, int] | None:
    """PostgreSQL: find the payer and take the hold in one statement (one round trip); None if
    no live key has the hash."""
    credits = fields["held_credits"]
    params = {**lookup, **_hold_parameters(fields)}
    with database.hot() as hot:
        row = hot.first(_HOLD_BY_KEY_IN_ONE_STATEMENT, params)
        if row is None:
            return None
        payer = Payer(*row[:7])
        if payer.balance_id is None:  # the period's first hold opens it, then takes the hold
            _opened(database, payer, fields["created_at"])
            row = hot.first(_HOLD_BY_KEY_IN_ONE_STATEMENT, params)
            assert row is not None
            payer = Payer(*row[:7])
        available_after, funded = row[7:]
        if available_after is None:  # nothing was taken: a cap or the budget said no
            raise _refusal(hot, payer, credits)
    return payer, int(available_after), int(funded)


def _opened(database: Database, payer: Payer, now: datetime) -> Payer:
    """:func:`_with_balance` in a write transaction of its own."""
    if payer.balance_id is not None:
        return payer
    with database.write() as session:
        return _with_balance(session, payer, now)


def _with_balance(session: Session, payer: Payer, now: datetime) -> Payer:
    """The payer with its current period's balance, opened if this is the period's first hold."""
    if payer.balance_id is not None:
        return payer
    team = session.get_one(Team, payer.team_id)
    return replace(payer, balance_id=current_balance(session, team, now).id)


def _paid_by(payer: Payer) -> dict[str, Any]:
    return {"team_id": payer.team_id, "key_id": payer.key_id, "balance_id": payer.balance_id}


def reserve(
    session: Session,
    team_id: int,
    credits: int,
    *,
    endpoint: str,
    kind: str,
    model: str | None = None,
    key: KeyLimits | None = None,
    tags: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    clip_seconds: float | None = None,
    job_id: str | None = None,
    priced: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Job:
    """Hold ``credits`` for a new job, or raise :class:`BudgetExceeded` having changed nothing.

    The budget check and the hold are one conditional UPDATE of the period's balance row, so
    racing reservations can never together take more than is available; a request for exactly
    the available credits fits. The same statements as the create path's
    (:func:`hold_for_key`), in the session's transaction. The returned job is a detached copy
    of the row written, with ``available_after`` (the team's available credits right after
    this hold) set on it.
    """
    now = now or utcnow()
    _check_amount(credits)
    row = session.execute(_PAYER_OF_TEAM, {"team_id": team_id, **_period_starts(now)}).first()
    if row is None:
        raise NotFound(f"no team with id {team_id}")
    payer = Payer(*row)
    if key is not None:
        payer = replace(payer, key_id=key.id, key_cap=key.max_credits_per_request)
    payer = _with_balance(session, payer, now)  # the first hold of a period opens it
    values = {
        **_job_row(
            credits,
            endpoint=endpoint,
            kind=kind,
            model=model,
            tags=tags,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            clip_seconds=clip_seconds,
            job_id=job_id,
            priced=priced,
            now=now,
        ),
        **_paid_by(payer),
    }
    available_after, funded = _take(InSession(session), payer, values)
    _alert_on_rise(session, payer, funded, available_after, credits)
    job = Job(**values)
    job.available_after = available_after
    return job


def _job_row(
    credits: int,
    *,
    endpoint: str,
    kind: str,
    model: str | None,
    tags: dict[str, str] | None,
    idempotency_key: str | None,
    request_hash: str | None,
    clip_seconds: float | None,
    job_id: str | None,
    priced: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """A new job's row, but for who pays for it (see :func:`_paid_by`).

    ``priced`` is the rest of its pricing key and how it was estimated (``resolution``,
    ``audio``, ``basis``, ``table_credits``), for learned prices."""
    return {
        **dict.fromkeys(PRICING_COLUMNS),
        **(priced or {}),
        "id": job_id or new_id("job"),
        "endpoint": endpoint,
        "kind": kind,
        "model": model,
        "status": JobStatus.RESERVED.value,
        "estimated_credits": credits,
        "held_credits": credits,
        "tags": dict(tags or {}),
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "clip_seconds": clip_seconds,
        "polls": 0,
        "released_credits": 0,
        "created_at": now,
    }


def _take(statements: _Statements, payer: Payer, job: dict[str, Any]) -> tuple[int, int]:
    """Check the caps, take the hold and write the job, its entry and its rollup; returns the
    team's available credits after the hold, and its funded credits (budget + adjustments)."""
    credits = job["held_credits"]
    caps = (payer.key_cap, payer.team_cap)
    if any(cap is not None and credits > cap for cap in caps):
        raise _refusal(statements, payer, credits)
    params = _hold_parameters(job)
    if statements.dialect_name == "postgresql":
        taken = statements.first(_HOLD_IN_ONE_STATEMENT, params)
    else:  # in the caller's transaction
        taken = statements.first(_TAKE_HOLD, params)
        if taken is not None:
            statements.execute(_INSERT_JOB, params)
            if credits:
                statements.execute(_INSERT_HOLD_ENTRY, params)
            statements.execute(rollups.upsert(statements.dialect_name), params)
    if taken is None:
        raise _refusal(statements, payer, credits)
    return int(taken[0]), int(taken[1])


def _hold_parameters(job: dict[str, Any]) -> dict[str, Any]:
    """What the hold's statements take: the job's fields, the credits, the rollup's changes."""
    credits = job["held_credits"]
    return {**job, "credits": credits, **rollups.changes(**job, jobs=1, held=credits)}


def _refusal(statements: _Statements, payer: Payer, credits: int) -> BudgetExceeded:
    """Why a hold of ``credits`` was not taken: a cap, or the credits available."""
    available = _available(statements, payer)
    for cap, owner in ((payer.key_cap, "key"), (payer.team_cap, "team")):
        if cap is not None and credits > cap:
            return BudgetExceeded(
                f"estimated {credits} credits exceed the {owner}'s "
                f"max_credits_per_request of {cap}",
                team=payer.team_slug,
                estimated_credits=credits,
                available_credits=available,
            )
    return BudgetExceeded(
        f"estimated {credits} credits exceed the {available} available to team {payer.team_slug}",
        team=payer.team_slug,
        estimated_credits=credits,
        available_credits=available,
    )


def _available(statements: _Statements, payer: Payer) -> int:
    return int(statements.first(_AVAILABLE, {"balance_id": payer.balance_id})[0])


def _alert_on_rise(
    session: Session, payer: Payer, funded: int, available_after: int, rise: int
) -> None:
    assert payer.balance_id is not None
    alerts.on_usage_rise(
        session,
        team_id=payer.team_id,
        team_slug=payer.team_slug,
        balance_id=payer.balance_id,
        thresholds=payer.thresholds,
        funded=funded,
        used_after=funded - available_after,
        rise=rise,
    )


def available_in(session: Session, balance_id: int) -> int:
    """The available credits of one balance row, as of now in this transaction."""
    return int(session.execute(_AVAILABLE, {"balance_id": balance_id}).scalar_one())

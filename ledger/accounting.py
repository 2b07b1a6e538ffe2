"""The money core: holds as two-phase transfers, budgets, adjustments, balances.

A hold is a pending transfer from a team's ``available`` account to its ``held`` account
(:func:`reserve`). It may be moved to the amount upstream says it charged (:func:`adjust_hold`)
and then ends exactly once: posted to ``spent`` (:func:`settle`, any amount, the rest returns) or
voided back to ``available`` (:func:`release`). Budgets and manual corrections flow between the
company's ``funding`` account and ``available``.

Every function takes a session inside one write transaction (``Database.write()``, or
``Database.transact()``, which retries a transaction PostgreSQL ended with a deadlock) and does
all of its work there: it updates the period's cached balance first (which takes the row lock on
PostgreSQL and orders entries within a period), then appends the journal entries. Nothing else in
the code base writes balances or entries.

**Lock order.** A transaction that locks more than one of these rows takes them in this order:

1. the **team** row, only to change the team (``PATCH``: :func:`sync_budget`), and then
   ``FOR NO KEY UPDATE``: the foreign-key checks of a concurrent hold's inserts take
   ``FOR KEY SHARE`` on the team, which that lock does not block (``FOR UPDATE`` would, while
   the PATCH waits for the balance the hold has: a deadlock);
2. the period's **balance** row (``FOR NO KEY UPDATE``, or the conditional ``UPDATE`` of a hold);
3. the **job** row (``FOR NO KEY UPDATE``): :func:`settle`, :func:`release` and
   :func:`adjust_hold` read the job's balance id unlocked (it never changes), lock the balance,
   and only then the job. Locking the job first deadlocked with a concurrent request of the
   same ``Idempotency-Key``, which holds the balance and waits on the job's index entry.

Statements that touch one job alone (recording upstream's answer, claiming jobs to poll) need
no order. Should PostgreSQL still end a transaction with a deadlock or a serialization failure,
``Database.transact`` runs it again, a few times, with jitter.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    CursorResult,
    Table,
    and_,
    bindparam,
    case,
    exists,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ledger import alerts, rollups
from ledger.db import Database, InSession
from ledger.errors import BudgetExceeded, HoldEnded, InvalidInput, NotFound, whole_number
from ledger.models import (
    OPEN_STATUSES,
    Account,
    ApiKey,
    Balance,
    Entry,
    EntryKind,
    Job,
    JobStatus,
    Period,
    Team,
    UTCDateTime,
    new_id,
    utcnow,
)
from ledger.periods import period_bounds
from ledger.pricing import learning

log = logging.getLogger("ledger.accounting")
_balances = cast(Table, Balance.__table__)
_entries = cast(Table, Entry.__table__)
_jobs = cast(Table, Job.__table__)

AVAILABLE_SQL = _balances.c.budget + _balances.c.adjustments - _balances.c.spent - _balances.c.held

# Which accounts each kind of entry may move credits between (either direction for the first two).
ENTRY_FLOWS: dict[EntryKind, tuple[Account, Account]] = {
    EntryKind.ALLOCATION: (Account.FUNDING, Account.AVAILABLE),
    EntryKind.ADJUSTMENT: (Account.FUNDING, Account.AVAILABLE),
    EntryKind.RESERVE: (Account.AVAILABLE, Account.HELD),
    EntryKind.HOLD_INCREASE: (Account.AVAILABLE, Account.HELD),
    EntryKind.HOLD_DECREASE: (Account.HELD, Account.AVAILABLE),
    EntryKind.SETTLE: (Account.HELD, Account.SPENT),
    EntryKind.RETURN: (Account.HELD, Account.AVAILABLE),
    EntryKind.OVERRUN: (Account.AVAILABLE, Account.SPENT),
    EntryKind.RELEASE: (Account.HELD, Account.AVAILABLE),
}
TWO_WAY_KINDS = (EntryKind.ALLOCATION, EntryKind.ADJUSTMENT)


def column_deltas(kind: str, from_account: str, to_account: str, credits: int) -> Counter[str]:
    """How one entry changes the cached columns of its balance (``available`` is derived)."""
    deltas: Counter[str] = Counter()
    for account, sign in ((from_account, -1), (to_account, 1)):
        if account == Account.HELD:
            deltas["held"] += sign * credits
        elif account == Account.SPENT:
            deltas["spent"] += sign * credits
        elif account == Account.FUNDING:
            # Credits leaving funding raise the team's budget (or adjustments).
            column = "budget" if kind == EntryKind.ALLOCATION else "adjustments"
            deltas[column] -= sign * credits
    return deltas


@dataclass(frozen=True)
class Posting:
    kind: EntryKind
    from_account: Account
    to_account: Account
    credits: int
    reason: str | None = None


def _posting(kind: EntryKind, credits: int, reason: str | None = None) -> Posting:
    """A posting of ``kind``; a negative amount flows backwards (two-way kinds only)."""
    source, target = ENTRY_FLOWS[kind]
    if credits < 0:
        assert kind in TWO_WAY_KINDS, kind
        source, target, credits = target, source, -credits
    return Posting(kind, source, target, credits, reason)


def _update_balance(session: Session, balance_id: int, postings: list[Posting]) -> None:
    """Apply the postings to the period's cached balance (taking its row lock on PostgreSQL)."""
    deltas: Counter[str] = Counter()
    for p in postings:
        deltas.update(column_deltas(p.kind, p.from_account, p.to_account, p.credits))
    values = {name: _balances.c[name] + delta for name, delta in deltas.items() if delta}
    statement = update(_balances).where(_balances.c.id == balance_id)
    # Even with nothing to change, touch the row: it takes the lock.
    statement = statement.values(**(values or {"held": _balances.c.held}))
    if _rowcount(session.execute(statement)) != 1:
        raise NotFound(f"no balance with id {balance_id}")


def _append_entries(
    session: Session,
    *,
    balance_id: int,
    team_id: int,
    job_id: str | None,
    postings: list[Posting],
    now: datetime,
) -> list[int]:
    rows = [
        {
            "team_id": team_id,
            "balance_id": balance_id,
            "job_id": job_id,
            "kind": p.kind.value,
            "from_account": p.from_account.value,
            "to_account": p.to_account.value,
            "credits": p.credits,
            "reason": p.reason,
            "created_at": now,
        }
        for p in postings
    ]
    if not rows:
        return []
    return list(session.scalars(_INSERT_ENTRIES, rows))


def _post(
    session: Session,
    *,
    balance_id: int,
    team_id: int,
    job_id: str | None,
    postings: list[Posting],
    now: datetime,
) -> list[int]:
    """Update the cached balance first, then append the entries; returns the entry ids."""
    postings = [p for p in postings if p.credits > 0]
    _update_balance(session, balance_id, postings)
    return _append_entries(
        session,
        balance_id=balance_id,
        team_id=team_id,
        job_id=job_id,
        postings=postings,
        now=now,
    )


# -- periods and budgets -----------------------------------------------------------------------


def _insert_ignoring_conflict(session: Session, values: dict[str, Any]) -> int | None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_balances)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["team_id", "period", "period_start"])
        .returning(_balances.c.id)
    )
    return session.execute(statement).scalar()


def current_balance(session: Session, team: Team, now: datetime) -> Balance:
    """The balance row of the team's current period, created (with its budget) if new."""
    start, end = period_bounds(team.period, now)
    query = select(Balance).where(
        Balance.team_id == team.id, Balance.period == team.period, Balance.period_start == start
    )
    balance = session.scalar(query)
    if balance is not None:
        return balance
    # Created with zeros, then funded through the journal like every other movement.
    balance_id = _insert_ignoring_conflict(
        session,
        {
            "team_id": team.id,
            "period": team.period,
            "period_start": start,
            "period_end": end,
            "budget": 0,
            "adjustments": 0,
            "held": 0,
            "spent": 0,
        },
    )
    if balance_id is not None:
        _post(
            session,
            balance_id=balance_id,
            team_id=team.id,
            job_id=None,
            postings=[_posting(EntryKind.ALLOCATION, team.budget_credits, "period opened")],
            now=now,
        )
    balance = session.scalar(query.execution_options(populate_existing=True))
    assert balance is not None
    return balance


def sync_budget(session: Session, team_id: int, *, now: datetime | None = None) -> Balance:
    """Make the current period's budget equal the team's budget, posting the difference."""
    now = now or utcnow()
    # Lock order (module docstring): team, then balance; neither's key changes.
    team = session.get(Team, team_id, with_for_update=NO_KEY_UPDATE, populate_existing=True)
    if team is None:
        raise NotFound(f"no team with id {team_id}")
    balance = current_balance(session, team, now)
    locked = session.scalar(
        select(Balance)
        .where(Balance.id == balance.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    difference = team.budget_credits - locked.budget
    if difference:
        _post(
            session,
            balance_id=locked.id,
            team_id=team.id,
            job_id=None,
            postings=[_posting(EntryKind.ALLOCATION, difference, "budget changed")],
            now=now,
        )
        session.refresh(locked)
    return locked


def adjust(
    session: Session, team: Team, credits: int, reason: str, *, now: datetime | None = None
) -> Entry:
    """A manual correction to the team's current period: a new journal entry, never an edit."""
    now = now or utcnow()
    number = whole_number(credits)
    if number is None or number == 0:
        raise InvalidInput("credits must be a non-zero whole number")
    credits = number
    if abs(credits) > 10**15:
        raise InvalidInput("credits is out of range")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 1000:
        raise InvalidInput("reason must be a non-empty string of at most 1000 characters")
    balance = current_balance(session, team, now)
    [entry_id] = _post(
        session,
        balance_id=balance.id,
        team_id=team.id,
        job_id=None,
        postings=[_posting(EntryKind.ADJUSTMENT, credits, reason.strip())],
        now=now,
    )
    entry = session.get(Entry, entry_id)
    assert entry is not None
    return entry


@dataclass(frozen=True)
class BalanceView:
    team: str
    period: str
    period_start: datetime
    period_end: datetime | None
    budget: int
    held: int
    spent: int
    adjustments: int
    available: int


def balance_of(session: Session, team: Team, *, now: datetime | None = None) -> BalanceView:
    """The team's balance for its current period (a period not yet touched shows its budget)."""
    now = now or utcnow()
    start, end = period_bounds(team.period, now)
    balance = session.scalar(
        select(Balance).where(
            Balance.team_id == team.id, Balance.period == team.period, Balance.period_start == start
        )
    )
    if balance is None:
        budget, adjustments, held, spent = team.budget_credits, 0, 0, 0
    else:
        budget, adjustments, held, spent = (
            balance.budget,
            balance.adjustments,
            balance.held,
            balance.spent,
        )
    return BalanceView(
        team=team.slug,
        period=team.period,
        period_start=start,
        period_end=end,
        budget=budget,
        held=held,
        spent=spent,
        adjustments=adjustments,
        available=budget + adjustments - spent - held,
    )


# -- holds -------------------------------------------------------------------------------------
#
# A hold is the hot path of every create, so its statements are built once and run through
# ``Database.hot()`` (the driver, no ORM): one lookup of the payer (key, team, current balance),
# then the hold itself. On SQLite that is four statements in one ``BEGIN IMMEDIATE``; on
# PostgreSQL one statement whose CTEs do the same, so that the balance row's lock is held for
# one statement's time instead of several network round trips.

FUNDED_SQL = _balances.c.budget + _balances.c.adjustments


def _start_of_current_period() -> Any:
    """The start of the team's current period, chosen in SQL among the starts passed in."""
    return case(
        *[
            (Team.period == period.value, bindparam(f"{period.value}_start", type_=UTCDateTime()))
            for period in Period
        ]
    )


def _period_starts(now: datetime) -> dict[str, datetime]:
    return _period_starts_on(now.astimezone(UTC).date())


@functools.lru_cache(maxsize=4)
def _period_starts_on(day: date) -> dict[str, datetime]:
    """Every period's start on a UTC day (each is the same all day; read-only)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {f"{period.value}_start": period_bounds(period, midnight)[0] for period in Period}


_PAYER_COLUMNS = (  # in the order of Payer's fields
    Team.id.label("team_id"),
    Team.slug.label("team_slug"),
    Team.max_credits_per_request.label("team_cap"),
    Team.alert_thresholds.label("thresholds"),
    Balance.id.label("balance_id"),
)
_CURRENT_BALANCE = and_(
    Balance.team_id == Team.id,
    Balance.period == Team.period,
    Balance.period_start == _start_of_current_period(),
)
_PAYER_OF_TEAM = (
    select(*_PAYER_COLUMNS)
    .outerjoin(Balance, _CURRENT_BALANCE)
    .where(Team.id == bindparam("team_id"))
)
_PAYER_OF_KEY = (
    select(
        *_PAYER_COLUMNS,
        ApiKey.id.label("key_id"),
        ApiKey.max_credits_per_request.label("key_cap"),
    )
    .select_from(ApiKey)
    .join(Team, Team.id == ApiKey.team_id)
    .outerjoin(Balance, _CURRENT_BALANCE)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)
_AVAILABLE = select(AVAILABLE_SQL).where(_balances.c.id == bindparam("balance_id"))
_TAKE_HOLD = (
    update(_balances)
    .where(_balances.c.id == bindparam("balance_id"), AVAILABLE_SQL >= bindparam("credits"))
    .values(held=_balances.c.held + bindparam("credits"))
    .returning(AVAILABLE_SQL.label("available"), FUNDED_SQL.label("funded"))
)
# SELECT ... FOR NO KEY UPDATE: blocks writers of the row, not the FOR KEY SHARE of foreign keys.
NO_KEY_UPDATE = {"key_share": True}
PRICING_COLUMNS = ("resolution", "audio", "basis", "table_credits")
_HOLD_JOB_COLUMNS = (
    "id", "team_id", "key_id", "balance_id", "endpoint", "kind", "model", "status",
    "estimated_credits", "held_credits", "tags", "idempotency_key", "request_hash",
    "clip_seconds", "polls", "released_credits", "created_at",
    "resolution", "audio", "basis", "table_credits",
)  # fmt: skip
_INSERT_JOB = insert(_jobs).values({name: bindparam(name) for name in _HOLD_JOB_COLUMNS})
_HOLD_ENTRY = {
    "team_id": bindparam("team_id"),
    "balance_id": bindparam("balance_id"),
    "job_id": bindparam("id"),
    "kind": literal(EntryKind.RESERVE.value),
    "from_account": literal(Account.AVAILABLE.value),
    "to_account": literal(Account.HELD.value),
    "credits": bindparam("held_credits"),
    "created_at": bindparam("created_at"),
}
_INSERT_HOLD_ENTRY = insert(_entries).values(_HOLD_ENTRY)
_INSERT_ENTRIES = insert(_entries).returning(_entries.c.id)


def _hold_in_one_statement(payer: Any = None) -> Any:
    """PostgreSQL: take the hold, insert the job, its entry and its rollup in one statement.

    With ``payer`` (a CTE of :data:`_PAYER_OF_KEY`), the payer is found in the same statement,
    its caps are checked there, and the statement returns the payer's row followed by the
    available and funded credits after the hold (NULL, NULL if nothing was taken)."""
    if payer is None:
        hold = _TAKE_HOLD.cte("hold")
        from_payer: dict[str, Any] = {}
    else:
        credits: Any = bindparam("credits")
        hold = (
            update(_balances)
            .where(
                _balances.c.id == payer.c.balance_id,
                AVAILABLE_SQL >= credits,
                or_(payer.c.key_cap.is_(None), payer.c.key_cap >= credits),
                or_(payer.c.team_cap.is_(None), payer.c.team_cap >= credits),
            )
            .values(held=_balances.c.held + credits)
            .returning(AVAILABLE_SQL.label("available"), FUNDED_SQL.label("funded"))
            .cte("hold")
        )
        from_payer = {
            "team_id": payer.c.team_id,
            "key_id": payer.c.key_id,
            "balance_id": payer.c.balance_id,
        }
    values = {
        name: from_payer.get(name, bindparam(name, type_=_jobs.c[name].type))
        for name in _HOLD_JOB_COLUMNS
    }
    chosen = select(*values.values()).where(exists(hold.select()))
    if payer is not None:
        chosen = chosen.select_from(payer)
    job = (
        insert(_jobs)
        .from_select(list(values), chosen)
        .returning(_jobs.c.id, _jobs.c.team_id, _jobs.c.balance_id, _jobs.c.key_id)
        .cte("job")
    )
    entry_values = {
        **_HOLD_ENTRY,
        "job_id": job.c.id,
        "team_id": job.c.team_id,
        "balance_id": job.c.balance_id,
    }
    entry = insert(_entries).from_select(
        list(entry_values),
        select(*entry_values.values()).where(bindparam("held_credits") > 0),
    )
    ctes = (job, entry.cte("entry"), rollups.upsert_for_new_job(job))
    if payer is None:
        return select(hold.c.available, hold.c.funded).add_cte(*ctes)
    return (
        select(*payer.c, hold.c.available, hold.c.funded)
        .select_from(payer.outerjoin(hold, true()))
        .add_cte(*ctes)
    )


_HOLD_IN_ONE_STATEMENT = _hold_in_one_statement()
_HOLD_BY_KEY_IN_ONE_STATEMENT = _hold_in_one_statement(_PAYER_OF_KEY.cte("payer"))


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


def _locked_open_job(session: Session, job_id: str) -> Job:
    job = lock_job(session, job_id)
    if job.status not in OPEN_STATUSES:
        raise HoldEnded(f"job {job_id} has already ended ({job.status})")
    return job


def lock_job(session: Session, job_id: str) -> Job:
    """The job, locked after its balance (the lock order of the module docstring)."""
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


def _check_amount(credits: Any) -> None:
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise InvalidInput("credits must be a whole number >= 0")
    if credits > 10**15:
        raise InvalidInput("credits is out of range")


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount

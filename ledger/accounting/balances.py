"""Periods, budgets and balances: a team's current period's balance row (opened, and funded
through the journal, by the first movement of the period), the budget kept equal to the team's
(:func:`sync_budget`), manual corrections (:func:`adjust`) and the balance as the API shows it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import bindparam, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.accounting.postings import NO_KEY_UPDATE, _balances, _post, _posting
from ledger.errors import InvalidInput, NotFound, whole_number
from ledger.models import Balance, Entry, EntryKind, Period, Team, UTCDateTime, utcnow
from ledger.periods import period_bounds
from ledger.zones import billing_zone, local_date, local_midnight


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
    # Lock order (ledger.accounting's docstring): team, then balance; neither's key changes.
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


# -- period starts, for the hold's statements (one lookup finds the current balance) -------


def _start_of_current_period() -> Any:
    """The start of the team's current period, chosen in SQL among the starts passed in."""
    return case(
        *[
            (Team.period == period.value, bindparam(f"{period.value}_start", type_=UTCDateTime()))
            for period in Period
        ]
    )


def _period_starts(now: datetime) -> dict[str, datetime]:
    zone = billing_zone()
    return _period_starts_on(local_date(now, zone), zone)


@functools.lru_cache(maxsize=4)
def _period_starts_on(day: date, zone: tzinfo) -> dict[str, datetime]:
    """Every period's start on a day of the billing zone (each is the same all day; read-only)."""
    midnight = local_midnight(day, zone)
    return {f"{period.value}_start": period_bounds(period, midnight, zone)[0] for period in Period}

"""The statements a hold runs, built once at import (see :mod:`ledger.accounting.holds`).

A hold is the hot path of every create, so its statements are built once and run through
``Database.hot()`` (the driver, no ORM): one lookup of the payer (key, team, current balance),
then the hold itself. On SQLite that is four statements in one ``BEGIN IMMEDIATE``
(:data:`_TAKE_HOLD`, :data:`_INSERT_JOB`, :data:`_INSERT_HOLD_ENTRY` and the rollup's upsert);
on PostgreSQL one statement whose CTEs do the same (:func:`_hold_in_one_statement`), so that the
balance row's lock is held for one statement's time instead of several network round trips.

The lock a hold takes is the balance row's (step 2 of the lock order in
:mod:`ledger.accounting`), by the conditional ``UPDATE`` of :data:`_TAKE_HOLD` (or its CTE). The
job's row is new (inserted only if the hold was taken), and the team row gets nothing stronger
than the ``FOR KEY SHARE`` of the inserts' foreign-key checks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, literal, or_, select, true, update

from ledger import rollups
from ledger.accounting.balances import _start_of_current_period
from ledger.accounting.postings import AVAILABLE_SQL, _balances, _entries, _jobs
from ledger.models import Account, ApiKey, Balance, EntryKind, Team

FUNDED_SQL = _balances.c.budget + _balances.c.adjustments


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
    ctes = (job, entry.cte("entry"), rollups.upsert_from(job))
    if payer is None:
        return select(hold.c.available, hold.c.funded).add_cte(*ctes)
    return (
        select(*payer.c, hold.c.available, hold.c.funded)
        .select_from(payer.outerjoin(hold, true()))
        .add_cte(*ctes)
    )


_HOLD_IN_ONE_STATEMENT = _hold_in_one_statement()
_HOLD_BY_KEY_IN_ONE_STATEMENT = _hold_in_one_statement(_PAYER_OF_KEY.cte("payer"))

"""The statements of a plain settle, built once at import (see
:func:`ledger.accounting.ends.settle_seen`).

Most holds end the same way: a poll through ledger sees the render finished, Magic Hour charged
no more than the hold (and the estimate), and the charge says nothing new about the price. Such a
settle needs nothing read first if the caller has just read the open job (:class:`SeenHold`:
the project GET's ownership check reads it anyway), so it runs like a hold, through
``Database.hot()``: on SQLite as four statements committed together with this process's other
create-path writes, on PostgreSQL as one statement (:data:`SETTLE_IN_ONE_STATEMENT`), so that
the team's balance row is locked for one statement's time instead of an ORM transaction's
round trips, while creates of the same team wait for it.

Every statement is conditional on the job being as it was seen: still open, with the hold that
was read (``held_credits = :held``). If it is not (it ended meanwhile, or its hold moved), the
job's ``UPDATE`` matches nothing, nothing else runs, and the caller settles through
:func:`~ledger.accounting.ends.settle`, which reads and locks everything again.

**Lock order** (:mod:`ledger.accounting`): on PostgreSQL the statement first locks the
**balance** row (``FOR NO KEY UPDATE`` in the ``locked`` CTE), and only then updates the
**job** (``ended``, which waits for ``locked``), then the balance (``moved``, after ``ended``);
the entries and the rollup are new rows. Updating the job first would take the two locks in the
opposite order to a concurrent hold of the same ``Idempotency-Key``. On SQLite the writes run in
one ``BEGIN IMMEDIATE``, which excludes every other writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, literal, or_, select, union_all, update

from ledger import rollups
from ledger.accounting.postings import ENTRY_FLOWS, _balances, _entries, _jobs
from ledger.models import OPEN_STATUSES, EntryKind, Job, JobStatus


@dataclass(frozen=True)
class SeenHold:
    """An open hold as a read of its job just saw it: enough to settle it without reading it
    again (the fields are :data:`SEEN_HOLD_COLUMNS`, in order)."""

    job_id: str
    team_id: int
    key_id: str | None
    balance_id: int
    endpoint: str
    model: str | None
    created_at: datetime
    held: int
    estimated: int
    table_credits: int | None
    basis: str | None


SEEN_HOLD_COLUMNS = (
    Job.id,
    Job.team_id,
    Job.key_id,
    Job.balance_id,
    Job.endpoint,
    Job.model,
    Job.created_at,
    Job.held_credits,
    Job.estimated_credits,
    Job.table_credits,
    Job.basis,
)

# A prepared statement cannot expand IN: the open statuses as ORs.
_STILL_AS_SEEN = (
    _jobs.c.id == bindparam("job_id"),
    or_(*[_jobs.c.status == status.value for status in OPEN_STATUSES]),
    _jobs.c.held_credits == bindparam("held"),
)
_ENDED_VALUES = {
    "status": JobStatus.SETTLED.value,
    "held_credits": 0,
    "charged_credits": bindparam("charged"),
    "ended_at": bindparam("ended_at"),
    "released_credits": _jobs.c.released_credits + bindparam("returned"),
}
_MOVED_VALUES = {
    "held": _balances.c.held - bindparam("held"),
    "spent": _balances.c.spent + bindparam("charged"),
}

# SQLite: run one after another in the group commit's transaction.
END_IF_AS_SEEN = update(_jobs).where(*_STILL_AS_SEEN).values(_ENDED_VALUES).returning(_jobs.c.id)
MOVE_BALANCE = (
    update(_balances).where(_balances.c.id == bindparam("balance_id")).values(_MOVED_VALUES)
)
INSERT_ENTRY = insert(_entries).values(
    team_id=bindparam("team_id"),
    balance_id=bindparam("balance_id"),
    job_id=bindparam("job_id"),
    kind=bindparam("kind"),
    from_account=bindparam("from_account"),
    to_account=bindparam("to_account"),
    credits=bindparam("credits"),
    created_at=bindparam("created_at"),
)


def _entry_row(ended: Any, kind: EntryKind, credits: str) -> Any:
    """One entry of the settle, from the ``ended`` CTE's row, if its amount is above 0."""
    source, target = ENTRY_FLOWS[kind]
    return select(
        ended.c.team_id,
        bindparam("balance_id", type_=_entries.c.balance_id.type),
        ended.c.id,
        literal(kind.value),
        literal(source.value),
        literal(target.value),
        bindparam(credits, type_=_entries.c.credits.type),
        bindparam("created_at", type_=_entries.c.created_at.type),
    ).where(bindparam(credits, type_=_entries.c.credits.type) > 0)


def _settle_in_one_statement() -> Any:
    """PostgreSQL: lock the balance, end the job, move the balance, append the entries and add
    to the rollup, in one statement that returns how many jobs it ended (0 or 1)."""
    locked = (
        select(_balances.c.id)
        .where(_balances.c.id == bindparam("balance_id"))
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        .cte("locked")
    )
    ended = (
        update(_jobs)
        .where(*_STILL_AS_SEEN, exists(locked.select()))
        .values(_ENDED_VALUES)
        .returning(_jobs.c.id, _jobs.c.team_id, _jobs.c.key_id)
        .cte("ended")
    )
    moved = (
        update(_balances)
        .where(_balances.c.id == bindparam("balance_id"), exists(ended.select()))
        .values(_MOVED_VALUES)
        .cte("moved")
    )
    columns = ["team_id", "balance_id", "job_id", "kind", "from_account", "to_account"]
    entries = insert(_entries).from_select(
        [*columns, "credits", "created_at"],
        union_all(
            _entry_row(ended, EntryKind.SETTLE, "charged"),
            _entry_row(ended, EntryKind.RETURN, "returned"),
        ),
    )
    return (
        select(func.count())
        .select_from(ended)
        .add_cte(locked, moved, entries.cte("entries"), rollups.upsert_from(ended))
    )


SETTLE_IN_ONE_STATEMENT = _settle_in_one_statement()

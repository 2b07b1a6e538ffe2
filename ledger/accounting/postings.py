"""The journal's primitives: which accounts each kind of entry moves credits between, and
:func:`_post`, the one way a balance changes: the period's cached balance row first (which takes
its row lock on PostgreSQL, step 2 of the lock order in :mod:`ledger.accounting`), then the
journal entries.

Every other module of the money core posts through here; nothing else in the code base writes
balances or entries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, update
from sqlalchemy.orm import Session

from ledger.errors import InvalidInput, NotFound
from ledger.models import Account, Balance, Entry, EntryKind, Job

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
# SELECT ... FOR NO KEY UPDATE: blocks writers of the row, not the FOR KEY SHARE of foreign keys.
NO_KEY_UPDATE = {"key_share": True}


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
    """Apply the postings to the period's cached balance (taking its row lock on PostgreSQL:
    step 2 of the lock order in :mod:`ledger.accounting`)."""
    deltas: Counter[str] = Counter()
    for p in postings:
        deltas.update(column_deltas(p.kind, p.from_account, p.to_account, p.credits))
    values = {name: _balances.c[name] + delta for name, delta in deltas.items() if delta}
    statement = update(_balances).where(_balances.c.id == balance_id)
    # Even with nothing to change, touch the row: it takes the lock.
    statement = statement.values(**(values or {"held": _balances.c.held}))
    if _rowcount(session.execute(statement)) != 1:
        raise NotFound(f"no balance with id {balance_id}")


_INSERT_ENTRIES = insert(_entries).returning(_entries.c.id)


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


def _check_amount(credits: Any) -> None:
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise InvalidInput("credits must be a whole number >= 0")
    if credits > 10**15:
        raise InvalidInput("credits is out of range")


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount

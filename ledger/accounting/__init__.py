"""The money core: holds as two-phase transfers, budgets, adjustments, balances.

A hold is a pending transfer from a team's ``available`` account to its ``held`` account
(:func:`reserve`). It may be moved to the amount upstream says it charged (:func:`adjust_hold`)
and then ends exactly once: posted to ``spent`` (:func:`settle`, any amount, the rest returns) or
voided back to ``available`` (:func:`release`). Budgets and manual corrections flow between the
company's ``funding`` account and ``available``.

Where each part lives:

- :mod:`ledger.accounting.postings`: the accounts each kind of entry moves credits between, and
  :func:`_post`, which updates the cached balance and appends the journal entries;
- :mod:`ledger.accounting.balances`: periods, budgets (:func:`sync_budget`), manual corrections
  (:func:`adjust`) and balances (:func:`balance_of`);
- :mod:`ledger.accounting.holds`: where a hold is taken (:func:`reserve`, :func:`hold_for_key`),
  or refused; its statements, built once for both databases, in
  :mod:`ledger.accounting.hold_sql`;
- :mod:`ledger.accounting.ends`: where a hold ends (:func:`adjust_hold`, :func:`settle`,
  :func:`release`), and the usage-rise alerts of a charge; :func:`settle_seen`, the common
  settle of a hold just read, runs the statements of :mod:`ledger.accounting.settle_sql`
  through ``Database.hot()``, as a hold does.

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

Where the locks are taken: the team, then the balance, in
:func:`~ledger.accounting.balances.sync_budget`; a hold's balance by the conditional ``UPDATE``
of :mod:`ledger.accounting.hold_sql`; every update of a balance in
:func:`~ledger.accounting.postings._update_balance`; the balance, then the job, in
:func:`~ledger.accounting.ends.lock_job`, which every end of a hold goes through but one: the
plain settle's statement (:mod:`ledger.accounting.settle_sql`) locks the balance, then the
job, in the same order, in one statement.
"""

from __future__ import annotations

# Every name callers use, here where they have always found it: ``accounting.reserve(...)``.
# Callers look a function up on this package (tests patch it here); the modules of the package
# call one another directly.
from ledger.accounting.balances import (
    BalanceView,
    adjust,
    balance_of,
    current_balance,
    sync_budget,
)
from ledger.accounting.ends import adjust_hold, lock_job, release, settle, settle_seen
from ledger.accounting.hold_sql import FUNDED_SQL, PRICING_COLUMNS
from ledger.accounting.holds import Hold, KeyLimits, Payer, available_in, hold_for_key, reserve
from ledger.accounting.postings import (
    AVAILABLE_SQL,
    ENTRY_FLOWS,
    NO_KEY_UPDATE,
    TWO_WAY_KINDS,
    Posting,
    column_deltas,
)
from ledger.accounting.settle_sql import SeenHold
from ledger.models import utcnow

__all__ = [
    "AVAILABLE_SQL",
    "ENTRY_FLOWS",
    "FUNDED_SQL",
    "NO_KEY_UPDATE",
    "PRICING_COLUMNS",
    "TWO_WAY_KINDS",
    "BalanceView",
    "Hold",
    "KeyLimits",
    "Payer",
    "Posting",
    "SeenHold",
    "adjust",
    "adjust_hold",
    "available_in",
    "balance_of",
    "column_deltas",
    "current_balance",
    "hold_for_key",
    "lock_job",
    "release",
    "reserve",
    "settle",
    "settle_seen",
    "sync_budget",
    "utcnow",
]

"""Moving a database to the billing time zone (``LEDGER_BILLING_TIMEZONE``).

Two things in the database depend on where days begin: the spend rollups (per local day) and the
bounds of the balance rows (a period's ``period_start`` is how a hold finds its balance). The
``billing_zone`` row says which zone they are kept in. :func:`adopt` moves them to another zone
in one transaction (``ledger serve``'s workers, ``ledger worker`` and ``ledger db upgrade`` run
it at start); every other command only checks that its zone is the database's
(:func:`check`), so that a shell that forgot the setting never moves a live ledger.

What moving does (the same as migration 0010's docstring says):

- the rollups are rebuilt from the jobs, per day in the new zone;
- each day, week and month balance whose period is the current one in the new zone, or later,
  by its name ("November", "the week of 2026-11-23"), is given that period's bounds in the new
  zone and keeps its budget, adjustments, holds and spend: a team never gets a second budget for
  the period it is in. Ended periods keep the bounds they had.

Every process should then run with the new zone: restart them all together.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from ledger.config import SettingsError
from ledger.db import Database
from ledger.models import Balance, BillingZone, Job, Period, SpendRollup, utcnow
from ledger.periods import period_bounds
from ledger.rollups import NONE
from ledger.zones import local_date, local_midnight, zone_named

log = logging.getLogger("ledger.billing_zone")
_BATCH = 5_000


def stored_zone(session: Session) -> str:
    """The zone the database's rollups and open periods are kept in."""
    return session.scalar(select(BillingZone.zone).where(BillingZone.id == 1)) or "UTC"


def check(database: Database, name: str) -> None:
    """Raise :class:`SettingsError` (one line) unless the database is kept in zone ``name``."""
    with database.read() as session:
        stored = stored_zone(session)
    if stored != name:
        raise SettingsError(
            f"LEDGER_BILLING_TIMEZONE: is {name} but the database keeps its days in {stored}; "
            f"set it to {stored}, or run `ledger db upgrade` to move the database to {name}"
        )


def adopt(database: Database, name: str, *, now: datetime | None = None) -> bool:
    """Move the database to zone ``name`` if it is kept in another; True if it moved."""
    with database.read() as session:
        if stored_zone(session) == name:
            return False
    zone = zone_named(name)
    with database.write() as session:
        if session.get_bind().dialect.name == "postgresql":
            # No hold, settlement or release may run while the days move (they wait).
            session.execute(text("LOCK TABLE balances, spend_rollups IN EXCLUSIVE MODE"))
        row = session.get(BillingZone, 1, with_for_update=True)
        old = row.zone if row is not None else "UTC"
        if old == name:
            return False
        now = now or utcnow()
        _rebuild_rollups(session, zone)
        moved = _move_open_periods(session, zone_named(old), zone, now)
        if row is None:
            session.add(BillingZone(id=1, zone=name, adopted_at=now))
        else:
            row.zone, row.adopted_at = name, now
    log.warning("billing time zone %s -> %s: rollups rebuilt, %d periods moved", old, name, moved)
    return True


def _rebuild_rollups(session: Session, zone: tzinfo) -> None:
    sums: dict[tuple[int, object, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    jobs = select(
        Job.team_id,
        Job.created_at,
        Job.endpoint,
        Job.model,
        Job.key_id,
        Job.held_credits,
        Job.charged_credits,
        Job.released_credits,
    ).execution_options(yield_per=_BATCH)
    for team_id, created, endpoint, model, key, held, charged, released in session.execute(jobs):
        into = sums[(team_id, local_date(created, zone), endpoint, model or NONE, key or NONE)]
        into[0] += 1
        into[1] += held or 0
        into[2] += charged or 0
        into[3] += released or 0
    session.execute(delete(SpendRollup))
    rows = [
        dict(
            zip(("team_id", "day", "endpoint", "model", "key_id"), key, strict=True),
            jobs=jobs_,
            held=held,
            spent=spent,
            released=released,
        )
        for key, (jobs_, held, spent, released) in sums.items()
    ]
    for first in range(0, len(rows), _BATCH):
        session.execute(insert(SpendRollup), rows[first : first + _BATCH])


def _move_open_periods(session: Session, old: tzinfo, zone: tzinfo, now: datetime) -> int:
    moved = 0
    for period in (Period.DAY, Period.WEEK, Period.MONTH):
        current, _ = period_bounds(period, now, zone)
        current_name = local_date(current, zone)
        # A row named for the current period or a later one starts after this (zones are at most
        # 26 hours apart).
        candidates = session.scalars(
            select(Balance).where(
                Balance.period == period.value,
                Balance.period_start >= local_midnight(current_name, old) - timedelta(days=2),
            )
        ).all()
        for balance in candidates:
            name = local_date(balance.period_start, old)
            if name < current_name:
                continue
            start, end = period_bounds(period, local_midnight(name, zone), zone)
            taken = session.scalar(
                select(Balance.id).where(
                    Balance.team_id == balance.team_id,
                    Balance.period == period.value,
                    Balance.period_start == start,
                    Balance.id != balance.id,
                )
            )
            if taken is not None:  # only zones a whole day apart could meet here
                log.warning("balance %s keeps its bounds: %s is taken", balance.id, start)
                continue
            balance.period_start, balance.period_end = start, end
            moved += 1
        session.flush()
    return moved

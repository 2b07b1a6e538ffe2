"""Spend rollups: per team, UTC day, endpoint, model and key, what its jobs hold, spent and
released. Reports read these instead of every job.

:func:`record` is called by the accounting core alone, in the same transaction as the money
movement it mirrors, so a rollup can never disagree with the journal that a commit made
(``ledger audit`` recomputes both from the journal).
"""

from __future__ import annotations

import functools
from datetime import UTC
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ledger.models import Job, SpendRollup

_rollups = cast(Table, SpendRollup.__table__)
_jobs = cast(Table, Job.__table__)
KEY_COLUMNS = ("team_id", "day", "endpoint", "model", "key_id")
NONE = ""  # stands for "no model" or "no key", so that both can be part of the key


def record(
    session: Session, job: Job, *, jobs: int = 0, held: int = 0, spent: int = 0, released: int = 0
) -> None:
    """Add these changes to the rollup of ``job``'s team, creation day, endpoint, model and key
    (one upsert), and ``released`` to the job's own ``released_credits``."""
    if not (jobs or held or spent or released):
        return
    session.execute(
        _upsert(session.get_bind().dialect.name),
        {
            "team_id": job.team_id,
            # Spend belongs to the day its hold was made, whenever it settles.
            "day": job.created_at.astimezone(UTC).date(),
            "endpoint": job.endpoint,
            "model": job.model or NONE,
            "key_id": job.key_id or NONE,
            "jobs": jobs,
            "held": held,
            "spent": spent,
            "released": released,
        },
    )
    if released:
        session.execute(
            update(_jobs)
            .where(_jobs.c.id == job.id)
            .values(released_credits=_jobs.c.released_credits + released)
        )
        set_committed_value(job, "released_credits", (job.released_credits or 0) + released)


@functools.cache
def _upsert(dialect_name: str) -> Any:
    """The upsert for a dialect, built once (it runs in every money movement)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(_rollups)
    return statement.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS),
        set_={
            name: _rollups.c[name] + statement.excluded[name]
            for name in ("jobs", "held", "spent", "released")
        },
    )

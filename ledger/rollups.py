"""Spend rollups: per team, day (in the billing time zone, :mod:`ledger.zones`), endpoint,
model and key, what its jobs hold, spent and released. Reports read these instead of every job.
:mod:`ledger.billing_zone` rebuilds them when the zone changes.

:func:`record` is called by the accounting core alone, in the same transaction as the money
movement it mirrors, so a rollup can never disagree with the journal that a commit made
(``ledger audit`` recomputes both from the journal).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ledger.models import Job, SpendRollup
from ledger.zones import local_date

_rollups = cast(Table, SpendRollup.__table__)
_jobs = cast(Table, Job.__table__)
KEY_COLUMNS = ("team_id", "day", "endpoint", "model", "key_id")
COLUMNS = (*KEY_COLUMNS, "jobs", "held", "spent", "released")
NONE = ""  # stands for "no model" or "no key", so that both can be part of the key


def record(
    session: Session, job: Job, *, jobs: int = 0, held: int = 0, spent: int = 0, released: int = 0
) -> None:
    """Add these changes to the rollup of ``job``'s team, creation day, endpoint, model and key
    (one upsert), and ``released`` to the job's own ``released_credits``."""
    if not (jobs or held or spent or released):
        return
    session.execute(
        upsert(session.get_bind().dialect.name),
        changes(
            team_id=job.team_id,
            created_at=job.created_at,
            endpoint=job.endpoint,
            model=job.model,
            key_id=job.key_id,
            jobs=jobs,
            held=held,
            spent=spent,
            released=released,
        ),
    )
    if released:
        session.execute(
            update(_jobs)
            .where(_jobs.c.id == job.id)
            .values(released_credits=_jobs.c.released_credits + released)
        )
        set_committed_value(job, "released_credits", (job.released_credits or 0) + released)


def changes(
    *,
    created_at: datetime,
    endpoint: str,
    model: str | None,
    team_id: int | None = None,
    key_id: str | None = None,
    jobs: int = 0,
    held: int = 0,
    spent: int = 0,
    released: int = 0,
    **_other_fields_of_the_job: Any,
) -> dict[str, Any]:
    """The parameters of :func:`upsert`: these changes to the rollup of a job (its fields).

    They are named ``rollup_<column>``, so that they can travel with the job's own. The team is
    None only for :func:`upsert_from`, which takes it (and the key) from a job's row."""
    values = {
        "team_id": team_id,
        # Spend belongs to the day its hold was made, whenever it settles.
        "day": local_date(created_at),
        "endpoint": endpoint,
        "model": model or NONE,
        "key_id": key_id or NONE,
        "jobs": jobs,
        "held": held,
        "spent": spent,
        "released": released,
    }
    return {f"rollup_{name}": value for name, value in values.items()}


@functools.cache
def upsert(dialect_name: str) -> Any:
    """The upsert for a dialect, built once (it runs in every money movement)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(_rollups).values(
        {name: bindparam(f"rollup_{name}") for name in COLUMNS}
    )
    return statement.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS),
        set_={
            name: _rollups.c[name] + statement.excluded[name]
            for name in ("jobs", "held", "spent", "released")
        },
    )


def upsert_from(job: Any) -> Any:
    """PostgreSQL: the rollup upsert of a job, as a CTE that runs if ``job`` (a CTE of the
    inserted or updated job's id, team_id and key_id) has a row; the other values are
    parameters, as for :func:`upsert`."""
    from_job = {"team_id": job.c.team_id, "key_id": func.coalesce(job.c.key_id, NONE)}
    values = select(
        *[
            from_job.get(name, bindparam(f"rollup_{name}", type_=_rollups.c[name].type))
            for name in COLUMNS
        ]
    ).select_from(job)
    statement = postgresql.insert(_rollups).from_select(list(COLUMNS), values)
    return statement.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS),
        set_={
            name: _rollups.c[name] + statement.excluded[name]
            for name in ("jobs", "held", "spent", "released")
        },
    ).cte("rollup")

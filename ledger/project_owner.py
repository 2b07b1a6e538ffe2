"""Whose project is this: the key and the job of a project GET found together, in one read.

Project GETs are most of a team's traffic (the SDK's ``generate()`` polls every 0.5 s for the
whole render), so the check that only the team that created a project may read it runs as one
indexed statement on the create path's driver connections (``Database.hot()``, no ORM): the
live key by its hash joined to the team's job by its upstream id. A revoked key stops matching
at once, on every instance, because nothing is cached. The same read returns what a plain
settle needs of the job (:class:`~ledger.accounting.settle_sql.SeenHold`), so that a poll that
sees the render finished settles it without reading it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from ledger.accounting.settle_sql import SEEN_HOLD_COLUMNS, SeenHold
from ledger.db import Database
from ledger.models import OPEN_STATUSES, ApiKey, Job, Team
from ledger.teams import KeyIdentity, hash_of_presented

_OPEN = frozenset(status.value for status in OPEN_STATUSES)

_KEY_AND_JOB = (  # built once; the jobs row by its unique upstream id, the key by its hash
    select(
        ApiKey.id,
        ApiKey.max_credits_per_request,
        Team.id,
        Team.slug,
        Job.status,
        *SEEN_HOLD_COLUMNS,
    )
    .join(Team, Team.id == ApiKey.team_id)
    .join(Job, Job.team_id == ApiKey.team_id)
    .where(
        ApiKey.key_hash == bindparam("key_hash"),
        ApiKey.revoked_at.is_(None),
        Job.upstream_id == bindparam("upstream_id"),
        Job.kind == bindparam("kind"),
    )
)


@dataclass(frozen=True)
class OwnedProject:
    caller: KeyIdentity
    job_id: str
    seen: SeenHold | None  # the job's open hold (None once it ended): a terminal status settles it


def find(database: Database, secret: str, kind: str, upstream_id: str) -> OwnedProject | None:
    """The caller's key and its team's job for project ``upstream_id``; None if the key is not
    live or the project is not that team's (the caller then tells the two apart)."""
    key_hash = hash_of_presented(secret)
    if key_hash is None:
        return None
    params = {"key_hash": key_hash, "upstream_id": upstream_id, "kind": kind}
    with database.hot() as hot:
        row = hot.first(_KEY_AND_JOB, params)
    if row is None:
        return None
    key_id, max_credits, team_id, slug, status = row[:5]
    seen = SeenHold(*row[5:])
    caller = KeyIdentity(key_id, max_credits, team_id, slug)
    return OwnedProject(caller, seen.job_id, seen if status in _OPEN else None)

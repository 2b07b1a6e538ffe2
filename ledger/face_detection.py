"""Face detection through the proxy: free (no job, no hold, no journal entry), but its result
is the asking team's, so ledger remembers which team asked (CONTRACT §3).

The detection's ids and face paths feed a face swap's ``face_mappings`` (individual-faces mode);
the swap itself is a priced create like any other.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ledger.db import Database
from ledger.models import FaceDetection
from ledger.teams import KeyIdentity

log = logging.getLogger("ledger.proxy")


def record(
    database: Database, caller: KeyIdentity, upstream_id: str, credits_charged: int | None
) -> None:
    """Remember that ``caller``'s team asked for detection ``upstream_id``."""
    if credits_charged:
        # Magic Hour documents face detection as free "for the near future": say so if it no
        # longer is, since ledger holds nothing for it.
        log.warning(
            "Magic Hour charged %d credits for face detection %s (documented as free; ledger "
            "reserves nothing for it)",
            credits_charged,
            upstream_id,
        )
    try:
        with database.write() as session:
            session.add(
                FaceDetection(
                    upstream_id=upstream_id,
                    team_id=caller.team_id,
                    key_id=caller.id or None,
                    credits_charged=credits_charged,
                )
            )
    except IntegrityError:
        # The id is already known (upstream reused it?): its first team keeps it.
        log.error("face detection id %r was already recorded; its first team keeps it", upstream_id)


def asked_by(database: Database, caller: KeyIdentity, upstream_id: str) -> bool:
    """True if ``caller``'s team asked for detection ``upstream_id`` through ledger."""
    with database.read() as session:
        found = session.scalar(
            select(FaceDetection.upstream_id).where(
                FaceDetection.upstream_id == upstream_id,
                FaceDetection.team_id == caller.team_id,
            )
        )
    return found is not None

"""Budget alerts, written to an outbox in the same transaction as the movement behind them.

Each alert has a dedupe key (one per crossing: ``overrun:<job>``, ...), so recording the same
crossing twice, from a retry or a second worker, keeps one. Delivery comes later, from the outbox.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.models import Alert, utcnow


def record(
    session: Session,
    *,
    team_id: int,
    kind: str,
    dedupe_key: str,
    message: str,
    balance_id: int | None = None,
    job_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Add an alert unless one with this dedupe key exists; True if added."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    statement = (
        dialect.insert(Alert)
        .values(
            team_id=team_id,
            balance_id=balance_id,
            job_id=job_id,
            kind=kind,
            dedupe_key=dedupe_key,
            message=message,
            details=details or {},
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]

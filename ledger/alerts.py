"""Budget alerts: an outbox written in the same transaction as the movement behind them (but for
a threshold crossed by a create's hold, written just after the hold commits, in a transaction of
its own, to keep the create path's transaction short), and its delivery to
``LEDGER_ALERT_WEBHOOK_URL`` as Slack-compatible JSON.

Each alert has a dedupe key, one per crossing (``overrun:<job>``, ``threshold:<balance>:<pct>``
for a threshold of one team's period), so the same crossing recorded twice, by a retry or a second
worker, is kept once. Delivery is at least once: an alert is marked delivered in the transaction
after the receiver said 2xx, so only a crash between those two moments can repeat it; a restart
never loses one, since it waits in the outbox until delivered. Failed deliveries are retried with
backoff, for ever (and shown on the dashboard meanwhile).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.models import Alert, utcnow


def record(
    session: Session,
    *,
    team_id: int | None,
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


def on_usage_rise(
    session: Session,
    *,
    team_id: int,
    team_slug: str,
    balance_id: int,
    thresholds: list[int] | None,
    funded: int,
    used_after: int,
    rise: int,
) -> None:
    """Record an alert for each threshold (percent of the period's budget and adjustments) that
    usage (spent + held) crossed by rising ``rise`` credits to ``used_after``."""
    for percent in crossed(thresholds, funded, used_after, rise):
        record(
            session,
            team_id=team_id,
            kind="threshold",
            dedupe_key=f"threshold:{balance_id}:{percent}",
            message=f"team {team_slug} has used {percent}% of its budget for this period "
            f"({used_after} of {funded} credits held or spent)",
            balance_id=balance_id,
            details={"threshold": percent, "used": used_after, "budget": funded},
        )


def crossed(thresholds: list[int] | None, funded: int, used_after: int, rise: int) -> list[int]:
    """The thresholds (percent of ``funded``) that usage crossed rising by ``rise``."""
    if funded <= 0 or rise <= 0:
        return []
    used_before = used_after - rise
    # Compared in hundredths, in whole numbers.
    return [p for p in thresholds or () if used_before * 100 < funded * p <= used_after * 100]


def deliver_due(
    database: Any, url: str, *, now: datetime | None = None, batch: int = 20
) -> tuple[int, int]:
    """Send the alerts that are due; returns (delivered, failed)."""
    now = now or utcnow()
    with database.write() as session:
        due = list(
            session.scalars(
                select(Alert)
                .where(Alert.delivered_at.is_(None), Alert.next_attempt_at <= now)
                .order_by(Alert.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        for alert in due:  # a lease: nobody else sends these while we try
            alert.next_attempt_at = now + CLAIM
        claimed = [(a.id, slack_message(a)) for a in due]
    delivered = failed = 0
    with httpx.Client(timeout=DELIVERY_TIMEOUT) as client:
        for alert_id, message in claimed:
            try:
                ok = client.post(url, json=message).is_success
            except httpx.HTTPError:
                ok = False
            with database.write() as session:
                alert = session.get_one(Alert, alert_id)
                alert.attempts += 1
                if ok:
                    alert.delivered_at = utcnow()
                    delivered += 1
                else:
                    delay = min(BACKOFF_BASE * 2 ** (alert.attempts - 1), BACKOFF_MAX)
                    alert.next_attempt_at = utcnow() + delay
                    failed += 1
    return delivered, failed


def slack_message(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` for people, ``ledger`` for machines."""
    icons = {
        "overrun": ":warning:",
        "threshold": ":bar_chart:",
        "bypass": ":rotating_light:",
        "upstream_credits": ":no_entry:",
    }
    icon = icons.get(alert.kind, ":bell:")
    return {
        "text": f"{icon} ledger: {alert.message}",
        "ledger": {
            "id": alert.id,
            "kind": alert.kind,
            "dedupe_key": alert.dedupe_key,
            "job_id": alert.job_id,
            "details": alert.details or {},
            "created_at": alert.created_at.isoformat(),
        },
    }


CLAIM = timedelta(minutes=1)
DELIVERY_TIMEOUT = 5.0
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_MAX = timedelta(hours=1)

"""Spend that went around ledger: a project of the company's account that no job owns (made with
the company key directly, or in Magic Hour's web app). Magic Hour sends events for every project
of the account, so each such project is recorded once, at its latest (then final)
``credits_charged``, and alerts the admins once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import alerts
from ledger.models import BypassProject

if TYPE_CHECKING:
    from ledger.webhooks.inbox import Event


def record(session: Session, event: Event, now: datetime) -> str:
    charged = event.payload.get("credits_charged")
    credits = charged if isinstance(charged, int) and not isinstance(charged, bool) else 0
    credits = max(credits, 0)
    row = session.get(BypassProject, event.project_id, with_for_update=True)
    if row is None:
        session.add(
            BypassProject(
                project_id=event.project_id,
                kind=event.kind,
                status=event.project_status or "unknown",
                credits_charged=credits,
                ended=event.ends,
                first_seen_at=now,
                updated_at=now,
            )
        )
        alerts.record(
            session,
            team_id=None,
            kind="bypass",
            dedupe_key=f"bypass:{event.project_id}",
            message=f"{event.kind} project {event.project_id} was made without ledger "
            f"({credits} credits charged so far): spend that bypassed the budgets",
            details={"project_id": event.project_id, "credits_charged": credits},
        )
    elif event.ends or not row.ended:  # a late *.started never undoes the final charge
        row.status = event.project_status or row.status
        row.credits_charged, row.ended, row.updated_at = credits, event.ends, now
    return "bypass"


def listing(
    session: Session, start: datetime | None, end: datetime | None, limit: int = 100
) -> dict[str, Any]:
    """The bypass projects first seen in ``[start, end)``, newest first, and their total."""
    where = []
    if start is not None:
        where.append(BypassProject.first_seen_at >= start)
    if end is not None:
        where.append(BypassProject.first_seen_at < end)
    total, count = session.execute(
        select(func.coalesce(func.sum(BypassProject.credits_charged), 0), func.count()).where(
            *where
        )
    ).one()
    rows = session.scalars(
        select(BypassProject)
        .where(*where)
        .order_by(BypassProject.first_seen_at.desc(), BypassProject.project_id)
        .limit(limit)
    )
    return {
        "projects": int(count),
        "credits": int(total),
        "items": [
            {
                "project_id": row.project_id,
                "kind": row.kind,
                "status": row.status,
                "credits_charged": row.credits_charged,
                "ended": row.ended,
                "first_seen_at": row.first_seen_at.isoformat().replace("+00:00", "Z"),
            }
            for row in rows
        ],
    }

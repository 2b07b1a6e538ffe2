"""Read side of the ledger API: filtered, keyset-paginated lists of jobs and entries, and the
JSON views of teams, keys, jobs and entries.

Pagination is by keyset (newest first, by id), carried in an opaque cursor: rows that exist when
a listing starts are each seen exactly once, however many are added meanwhile.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import accounting, reports
from ledger.errors import InvalidInput
from ledger.models import Alert, ApiKey, Balance, Entry, Job, JobStatus, Team

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# -- views -------------------------------------------------------------------------------------


def team_view(session: Session, team: Team) -> dict[str, Any]:
    balance = accounting.balance_of(session, team)
    forecast = reports.forecasts(session, [team])[team.id]
    return {
        "slug": team.slug,
        "name": team.name,
        "budget_credits": team.budget_credits,
        "period": team.period,
        "max_credits_per_request": team.max_credits_per_request,
        "alert_thresholds": team.alert_thresholds,
        "created_at": iso(team.created_at),
        "balance": balance_view(balance, forecast),
    }


def balance_view(balance: accounting.BalanceView, forecast: reports.Forecast) -> dict[str, Any]:
    view = asdict(balance)
    view["period_start"] = iso(balance.period_start)
    view["period_end"] = iso(balance.period_end)
    return view | forecast.as_json()


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "label": key.label,
        "max_credits_per_request": key.max_credits_per_request,
        "created_at": iso(key.created_at),
        "revoked_at": iso(key.revoked_at),
    }


def job_view(job: Job, team_slug: str) -> dict[str, Any]:
    return {
        "id": job.id,
        "team": team_slug,
        "endpoint": job.endpoint,
        "kind": job.kind,
        "model": job.model,
        "status": job.status,
        "upstream_id": job.upstream_id,
        "upstream_status": job.upstream_status,
        "estimated_credits": job.estimated_credits,
        "held_credits": job.held_credits,
        "charged_credits": job.charged_credits,
        "flag": job.flag,
        "key_id": job.key_id,
        "tags": job.tags or {},
        "created_at": iso(job.created_at),
        "submitted_at": iso(job.submitted_at),
        "ended_at": iso(job.ended_at),
    }


def entry_view(entry: Entry, team_slug: str, period_start: datetime | None) -> dict[str, Any]:
    return {
        "id": entry.id,
        "team": team_slug,
        "job_id": entry.job_id,
        "kind": entry.kind,
        "credits": entry.credits,
        "from_account": entry.from_account,
        "to_account": entry.to_account,
        "period_start": iso(period_start),
        "reason": entry.reason,
        "created_at": iso(entry.created_at),
    }


# -- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_json(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _encode_cursor(kind: str, last: str | int) -> str:
    raw = json.dumps({"k": kind, "after": last}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(kind: str, cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if document["k"] != kind:
            raise ValueError
        return document["after"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("cursor is not valid here; start again without it") from None


def _page(kind: str, views: list[dict[str, Any]], limit: int) -> Page:
    """A page from up to ``limit + 1`` views, newest first: the extra one says there is more."""
    items = views[:limit]
    more = len(views) > limit
    return Page(items, _encode_cursor(kind, items[-1]["id"]) if more else None)


def _integer_cursor(after: Any) -> int:
    if isinstance(after, bool) or not isinstance(after, int):
        raise InvalidInput("cursor is not valid here; start again without it")
    return after


@dataclass(frozen=True)
class Filters:
    team_id: int | None = None
    status: str | None = None
    endpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _within(query: Any, filters: Filters, team_id: Any, created_at: Any) -> Any:
    """The query narrowed to the filters' team and time window, on these columns."""
    if filters.team_id is not None:
        query = query.where(team_id == filters.team_id)
    if filters.since is not None:
        query = query.where(created_at >= filters.since)
    if filters.until is not None:
        query = query.where(created_at < filters.until)
    return query


def list_jobs(session: Session, filters: Filters, limit: int, cursor: str | None) -> Page:
    after = _decode_cursor("jobs", cursor)
    query = _within(
        select(Job, Team.slug).join(Team, Team.id == Job.team_id),
        filters,
        Job.team_id,
        Job.created_at,
    )
    if filters.status is not None:
        if filters.status not in {s.value for s in JobStatus}:
            raise InvalidInput(f"status must be one of {', '.join(s.value for s in JobStatus)}")
        query = query.where(Job.status == filters.status)
    if filters.endpoint is not None:
        query = query.where(Job.endpoint == filters.endpoint)
    if after is not None:
        query = query.where(Job.id < str(after))
    rows = session.execute(query.order_by(Job.id.desc()).limit(limit + 1)).all()
    return _page("jobs", [job_view(job, slug) for job, slug in rows], limit)


def list_entries(session: Session, filters: Filters, limit: int, cursor: str | None) -> Page:
    after = _decode_cursor("entries", cursor)
    query = _within(
        select(Entry, Team.slug, Balance.period_start)
        .join(Team, Team.id == Entry.team_id)
        .join(Balance, Balance.id == Entry.balance_id),
        filters,
        Entry.team_id,
        Entry.created_at,
    )
    if after is not None:
        query = query.where(Entry.id < _integer_cursor(after))
    rows = session.execute(query.order_by(Entry.id.desc()).limit(limit + 1)).all()
    return _page("entries", [entry_view(e, slug, start) for e, slug, start in rows], limit)


def job_with_entries(session: Session, job: Job, team_slug: str) -> dict[str, Any]:
    view = job_view(job, team_slug)
    rows = session.execute(
        select(Entry, Balance.period_start)
        .join(Balance, Balance.id == Entry.balance_id)
        .where(Entry.job_id == job.id)
        .order_by(Entry.id)
    ).all()
    view["entries"] = [entry_view(entry, team_slug, start) for entry, start in rows]
    return view


def alert_view(alert: Alert, team_slug: str | None) -> dict[str, Any]:
    return {
        "id": alert.id,
        "team": team_slug,
        "kind": alert.kind,
        "job_id": alert.job_id,
        "message": alert.message,
        "details": alert.details or {},
        "created_at": iso(alert.created_at),
        "delivered_at": iso(alert.delivered_at),
        "attempts": alert.attempts,
    }


def list_alerts(session: Session, team_id: int | None, limit: int, cursor: str | None) -> Page:
    after = _decode_cursor("alerts", cursor)
    # Account-wide alerts (bypass spend) have no team: the admins see them, no team key does.
    query = select(Alert, Team.slug).outerjoin(Team, Team.id == Alert.team_id)
    if team_id is not None:
        query = query.where(Alert.team_id == team_id)
    if after is not None:
        query = query.where(Alert.id < _integer_cursor(after))
    rows = session.execute(query.order_by(Alert.id.desc()).limit(limit + 1)).all()
    return _page("alerts", [alert_view(alert, slug) for alert, slug in rows], limit)


def list_deliveries(session: Session, team_id: int, limit: int, cursor: str | None) -> Page:
    """A team's relay deliveries, newest first."""
    from ledger.models import RelayDelivery
    from ledger.webhooks.relay import delivery_view

    after = _decode_cursor("deliveries", cursor)
    query = select(RelayDelivery).where(RelayDelivery.team_id == team_id)
    if after is not None:
        query = query.where(RelayDelivery.id < _integer_cursor(after))
    rows = session.scalars(query.order_by(RelayDelivery.id.desc()).limit(limit + 1))
    return _page("deliveries", [delivery_view(row) for row in rows], limit)

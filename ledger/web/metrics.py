"""``GET /metrics``: Prometheus text (prometheus-client).

Counters (requests by endpoint and outcome, upstream errors, polls) are counted where they happen.
Under ``ledger serve`` every gunicorn worker is a process of its own, so they use
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``ledger serve`` before
anything imports prometheus-client). Money gauges (holds open, credits held and spent per team,
unknown jobs, reconciliation lag, Magic Hour's account out of credits) are read from the database
when scraped, so every instance reports the same truth.

The page names every team with its spend, so it needs ``Authorization: Bearer`` with the admin
token or ``LEDGER_METRICS_TOKEN`` (a token for the scraper that opens nothing else): 401 otherwise.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ledger.errors import Unauthorized
from ledger.models import Balance, Job, JobStatus, Team, utcnow
from ledger.periods import period_bounds
from ledger.upstream_credits import episode_open

blueprint = Blueprint("metrics", __name__)


class LedgerCollector(Collector):
    """Gauges computed from the database at scrape time."""

    def __init__(self, database: Any) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        holds = GaugeMetricFamily("ledger_holds_open", "Jobs whose hold is open", labels=["team"])
        held = GaugeMetricFamily(
            "ledger_credits_held", "Credits held in the current period", labels=["team"]
        )
        spent = GaugeMetricFamily(
            "ledger_credits_spent", "Credits spent in the current period", labels=["team"]
        )
        available = GaugeMetricFamily(
            "ledger_credits_available", "Credits available in the current period", labels=["team"]
        )
        unknown = GaugeMetricFamily(
            "ledger_jobs_unknown", "Jobs whose upstream outcome is unknown", labels=["team"]
        )
        exhausted = GaugeMetricFamily(
            "ledger_upstream_credits_exhausted",
            "1 while Magic Hour refuses creates because the company's account is out of credits",
        )
        lag = GaugeMetricFamily(
            "ledger_reconcile_lag_seconds",
            "How late the most overdue poll of a submitted job is (0 when none is due)",
        )
        with self.database.read() as session:
            open_counts = dict(
                session.execute(
                    select(Team.slug, func.count(Job.id))
                    .join(Job, Job.team_id == Team.id)
                    .where(Job.status.in_(["reserved", "submitted", "unknown"]))
                    .group_by(Team.slug)
                ).all()
            )
            unknown_counts = dict(
                session.execute(
                    select(Team.slug, func.count(Job.id))
                    .join(Job, Job.team_id == Team.id)
                    .where(Job.status == JobStatus.UNKNOWN.value)
                    .group_by(Team.slug)
                ).all()
            )
            for team in session.scalars(select(Team)):
                start, _ = period_bounds(team.period, now)
                row = session.scalar(
                    select(Balance).where(
                        Balance.team_id == team.id,
                        Balance.period == team.period,
                        Balance.period_start == start,
                    )
                )
                h, s = (row.held, row.spent) if row else (0, 0)
                a = row.available if row else team.budget_credits
                holds.add_metric([team.slug], open_counts.get(team.slug, 0))
                held.add_metric([team.slug], h)
                spent.add_metric([team.slug], s)
                available.add_metric([team.slug], a)
                unknown.add_metric([team.slug], unknown_counts.get(team.slug, 0))
            exhausted.add_metric([], 1 if episode_open(session) else 0)
            oldest_due = session.scalar(
                select(func.min(Job.next_poll_at)).where(
                    Job.status == JobStatus.SUBMITTED.value, Job.next_poll_at <= now
                )
            )
        lag.add_metric([], (now - oldest_due).total_seconds() if oldest_due else 0.0)
        yield from (holds, held, spent, available, unknown, exhausted, lag)


def _require_scraper() -> None:
    """The admin token or the metrics token, compared in constant time; else 401."""
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    token = token.strip()
    settings = current_app.extensions["ledger"].settings
    allowed = [t for t in (settings.admin_token, settings.metrics_token) if t]
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <admin token or LEDGER_METRICS_TOKEN>")
    # Every candidate is compared, so the time taken does not say which one was close.
    matches = [hmac.compare_digest(token.encode(), t.encode()) for t in allowed]
    if not any(matches):
        raise Unauthorized("unknown token: /metrics needs the admin token or LEDGER_METRICS_TOKEN")


@blueprint.get("/metrics")
def metrics() -> Response:
    _require_scraper()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)  # type: ignore[no-untyped-call]
    else:
        counters = REGISTRY  # one process: its own counters
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(LedgerCollector(current_app.extensions["ledger"].database))
    text = generate_latest(counters) + generate_latest(gauges)
    return Response(text, mimetype=CONTENT_TYPE_LATEST)

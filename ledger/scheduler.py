"""The reconciliation scheduler (APScheduler): in ``ledger worker``, and once per host under
``ledger serve``.

Each sweep runs as one APScheduler job, never overlapping itself (``max_instances=1``), with
missed runs coalesced; so do the webhook inbox's drain (every 0.25 s), the relay to teams, the
account snapshots, the alert deliveries and the hourly pruning of old webhook events. Between
sweeps the scheduler writes a heartbeat that ``/readyz`` checks.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select

from ledger import alerts, drift
from ledger.config import Settings
from ledger.db import Database
from ledger.models import WorkerBeat, utcnow
from ledger.reconcile import Reconciler
from ledger.upstream import Upstream
from ledger.webhooks import inbox, pruning
from ledger.webhooks.relay import Relay

log = logging.getLogger("ledger.scheduler")
SNAPSHOT_EVERY_SECONDS = 60  # upstream's account balance, for the drift check
RELAY_EVERY_SECONDS = 0.5  # how often due relay deliveries are looked for


def make_reconciler(settings: Settings, database: Database) -> Reconciler:
    upstream = Upstream(
        settings.upstream_url, settings.magic_hour_api_key, timeout=settings.upstream_timeout
    )
    return Reconciler(
        database,
        upstream,
        poll_interval=settings.poll_interval,
        max_requests_per_second=settings.poll_rate,
        unknown_hold=timedelta(hours=settings.unknown_hold_hours),
        reserved_stale_after=timedelta(seconds=settings.upstream_timeout + 120),
        expect_webhooks=bool(settings.webhook_secret),
    )


def beat(database: Database, name: str, *, started: bool = False) -> None:
    now = utcnow()
    with database.write() as session:
        row = session.get(WorkerBeat, name)
        if row is None:
            session.add(WorkerBeat(name=name, started_at=now, beat_at=now, sweeps=0))
        else:
            row.beat_at = now
            if started:
                row.started_at, row.sweeps = now, 0
            else:
                row.sweeps += 1


def scheduler_alive(database: Database, within: timedelta) -> bool:
    """Has any reconciliation scheduler beaten within ``within``?"""
    with database.read() as session:
        latest = session.scalar(select(WorkerBeat.beat_at).order_by(WorkerBeat.beat_at.desc()))
    return latest is not None and utcnow() - latest <= within


def heartbeat_window(settings: Settings) -> timedelta:
    return timedelta(seconds=max(3 * settings.poll_interval, 15.0))


def _every(
    scheduler: BlockingScheduler, name: str, seconds: float, work: Any, **options: Any
) -> None:
    """Run ``work`` every ``seconds``, first now; never two at once, missed runs coalesced."""
    scheduler.add_job(
        work,
        "interval",
        seconds=seconds,
        id=name,
        max_instances=1,
        coalesce=True,
        next_run_time=utcnow(),
        **options,
    )


def run_worker(settings: Settings) -> None:
    """Run sweeps every poll interval until SIGTERM or SIGINT; a sweep in progress finishes."""
    database = Database.of(settings)
    reconciler = make_reconciler(settings, database)
    name = f"{socket.gethostname()}:{os.getpid()}"
    beat(database, name, started=True)

    def sweep() -> None:
        report = reconciler.sweep()
        beat(database, name)
        if report.claimed or report.scheduled or report.became_unknown or report.expired_unknown:
            log.info("sweep: %s", report)

    scheduler = BlockingScheduler(timezone="UTC")
    _every(scheduler, "reconcile", settings.poll_interval, sweep, misfire_grace_time=None)
    _every(
        scheduler,
        "account-snapshot",
        SNAPSHOT_EVERY_SECONDS,
        lambda: drift.record_snapshot(database, reconciler.upstream),
    )
    if settings.webhook_secret:

        def drain_webhooks() -> None:
            report = inbox.drain(database)
            if report:
                log.info("webhooks: %s", report)

        _every(scheduler, "webhook-inbox", inbox.DRAIN_SECONDS, drain_webhooks)

    def prune_webhooks() -> None:
        if deleted := pruning.prune(database):
            log.info("webhooks: %d events older than %d days pruned", deleted, pruning.KEEP.days)

    _every(scheduler, "webhook-pruning", pruning.EVERY_SECONDS, prune_webhooks)
    relay: Relay | None = None
    if settings.webhook_secret and settings.secret_key:
        relay = Relay(database, settings.secret_key)
        _every(scheduler, "webhook-relay", RELAY_EVERY_SECONDS, relay.tick)
    if settings.alert_webhook_url:
        url = settings.alert_webhook_url

        def deliver() -> None:
            delivered, failed = alerts.deliver_due(database, url)
            if delivered or failed:
                log.info("alerts: %d delivered, %d failed (will retry)", delivered, failed)

        _every(scheduler, "alerts", min(settings.poll_interval, 5.0), deliver)

    def stop(signum: int, _frame: Any) -> None:
        log.info("stopping after the current sweep (signal %d)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("reconciliation every %gs as %s", settings.poll_interval, name)
    try:
        scheduler.start()
    finally:
        if relay is not None:
            relay.close()
        reconciler.upstream.close()
        database.dispose()

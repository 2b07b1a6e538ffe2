"""The HTTP side of ledger: ``create_app`` builds the Flask app and everything it needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.exc import OperationalError, ProgrammingError

from ledger import billing_zone
from ledger.config import Settings, load_settings
from ledger.db import Database
from ledger.pricing import PricingTable
from ledger.pricing.learning import LearnedPrices
from ledger.pricing.pricer import Pricer
from ledger.proxy import Proxy
from ledger.reconcile import Reconciler
from ledger.upstream import Upstream
from ledger.zones import use_billing_zone

# Create bodies are small JSON documents; anything near this is a mistake or an attack.
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Services:
    """What the routes share, made once per app (per server worker process)."""

    settings: Settings
    database: Database
    upstream: Upstream
    pricing: Pricer  # the table for LEDGER_PLAN, corrected by learned prices
    proxy: Proxy
    reconciler: Reconciler

    def close(self) -> None:
        self.reconciler.close()
        self.upstream.close()
        self.database.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    upstream: Upstream | None = None,
    pricing: PricingTable | None = None,
    **config: Any,
) -> Flask:
    """The ledger service. Parts not given are built from the settings."""
    from ledger.web import (
        api,
        dashboard,
        errors,
        health,
        intake,
        metrics,
        openapi,
        proxy_routes,
        reports_api,  # noqa: F401  # adds the chargeback's route to api.blueprint
        webhook_api,  # noqa: F401  # adds the relay's routes to api.blueprint
        webhooks,
    )

    settings = settings or load_settings()
    use_billing_zone(settings.billing_timezone)
    database = database or Database.of(settings)
    _adopt_billing_zone(database, settings.billing_timezone)
    table = pricing or PricingTable.load(settings.pricing, plan=settings.plan)
    prices = Pricer(table, LearnedPrices(database.read))
    upstream = upstream or Upstream(
        settings.upstream_url, settings.magic_hour_api_key, timeout=settings.upstream_timeout
    )
    reconciler = Reconciler(
        database,
        upstream,
        poll_interval=settings.poll_interval,
        max_requests_per_second=settings.poll_rate,
        unknown_hold=timedelta(hours=settings.unknown_hold_hours),
        expect_webhooks=bool(settings.webhook_secret),
    )
    services = Services(
        settings, database, upstream, prices, Proxy(database, upstream, prices), reconciler
    )

    app = Flask("ledger")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, **config)
    app.wsgi_app = intake.Intake(app.wsgi_app, MAX_BODY_BYTES)  # type: ignore[method-assign]
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep fields in their meaningful order
    app.extensions["ledger"] = services
    errors.register_error_handlers(app)
    app.register_blueprint(proxy_routes.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(openapi.blueprint)
    return app


def _adopt_billing_zone(database: Database, zone: str) -> None:
    """Move the database to the billing zone before serving (``ledger serve`` migrated it)."""
    try:
        billing_zone.adopt(database, zone)
    except (OperationalError, ProgrammingError):
        # Unreachable or not migrated yet: /readyz says so; the zone is adopted at next start.
        logging.getLogger("ledger").warning("billing time zone not checked: database not ready")


def services_of(app: Flask) -> Services:
    return app.extensions["ledger"]  # type: ignore[no-any-return]

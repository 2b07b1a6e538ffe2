"""``ledger serve``: the service under gunicorn, the database migrated first."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from ledger import db, serving
from ledger.config import Settings, SettingsError
from ledger.pricing import PricingTable
from ledger.web import create_app


def configure_logging() -> None:
    """Plain lines on stderr; the proxy's access lines are JSON documents in the message."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    require_upstream_key: bool = True,
) -> None:
    """Check everything that can be checked, migrate, then serve until SIGINT or SIGTERM.

    A SIGTERM lets requests in flight finish (up to the upstream timeout) before workers stop.
    """
    if require_upstream_key and not settings.magic_hour_api_key:
        raise SettingsError(
            "MAGIC_HOUR_API_KEY: not set; `ledger serve` needs the company's Magic Hour token"
        )
    pricing = PricingTable.load(settings.pricing)  # a bad table stops us before we listen
    database = db.Database(settings.resolved_database_url)
    try:
        db.upgrade(database)
    finally:
        database.dispose()
    configure_logging()
    logging.getLogger("ledger").info(
        "ledger serving on http://%s:%s (%d workers x %d threads), upstream %s",
        host,
        port,
        workers,
        threads,
        settings.upstream_url,
    )
    gunicorn_settings: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "keepalive": 5,
        # In-flight creates may wait for upstream up to its timeout: let them finish.
        "graceful_timeout": math.ceil(settings.upstream_timeout) + 5,
        "timeout": math.ceil(settings.upstream_timeout) + 30,
        "accesslog": None,  # the proxy writes its own structured line per call
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "ledger",
    }
    serving.run(lambda: create_app(settings, pricing=pricing), gunicorn_settings)

"""``ledger serve``: the service under gunicorn, the database migrated first."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import threading
from typing import Any

from ledger import db, processes, serving
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
    # httpx says INFO for every request it sends: the access line already says it, once.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    scheduler: bool = True,
    require_upstream_key: bool = True,
) -> None:
    """Check everything that can be checked, migrate, then serve until SIGINT or SIGTERM.

    A SIGTERM lets requests in flight finish (up to the upstream timeout) before workers stop.
    """
    if require_upstream_key and not settings.magic_hour_api_key:
        raise SettingsError(
            "MAGIC_HOUR_API_KEY: not set; `ledger serve` needs the company's Magic Hour token"
        )
    pricing = PricingTable.load(settings.pricing, plan=settings.plan)  # a bad table stops us here
    database = db.Database.of(settings)
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
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        gunicorn_settings["child_exit"] = _forget_worker_metrics
    if scheduler:
        # Once per host, not once per web worker: the gunicorn master supervises one
        # `ledger worker` process beside its web workers.
        supervisor = WorkerSupervisor()
        gunicorn_settings["when_ready"] = lambda _server: supervisor.start()
        gunicorn_settings["on_exit"] = lambda _server: supervisor.stop()
    serving.run(lambda: create_app(settings, pricing=pricing), gunicorn_settings)


class WorkerSupervisor:
    """Keeps one `ledger worker` child running; restarts it if it dies, stops it at the end."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._process = subprocess.Popen(processes.ledger_command("worker"))
            while self._process.poll() is None and not self._stopping.wait(0.5):
                pass
            if not self._stopping.is_set():
                logging.getLogger("ledger").error(
                    "reconciliation worker exited with %s; restarting", self._process.returncode
                )
                self._stopping.wait(1.0)

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _forget_worker_metrics(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

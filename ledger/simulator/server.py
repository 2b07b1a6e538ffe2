"""Serving the simulator: gunicorn for ``ledger simulator``, a thread for tests.

gunicorn runs ``workers`` processes of ``threads`` threads each (the gthread worker, which keeps
connections alive and lets a held "timeout" response wait without blocking others). The workers
share state through the SQLite file at ``options.state_path``, which is created before they fork.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from flask import Flask
from werkzeug.serving import (
    BaseWSGIServer,
    ThreadedWSGIServer,
    WSGIRequestHandler,
    make_server,
)

from ledger import serving
from ledger.simulator.app import create_simulator_app, runtime_of
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.store import Store


def serve(
    options: SimulatorOptions,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    state_path: Path,
    access_log: bool = False,
) -> None:
    """Run the simulator in the foreground until interrupted."""
    options = replace(options, state_path=state_path)
    Store(state_path).initialize(options.faults)
    settings: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "worker_connections": 1000,
        "keepalive": 30,
        # held "timeout" responses must not delay a shutdown for long
        "graceful_timeout": 2,
        "timeout": 0,
        "loglevel": "warning",
        "accesslog": "-" if access_log else None,
        "proc_name": "ledger-simulator",
    }
    serving.run(lambda: create_simulator_app(options), settings)


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests make thousands of requests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class ThreadedSimulator:
    """A simulator served by a background thread of this process (tests and demos)."""

    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def stop(self) -> None:
        runtime_of(self.app).stopping.set()  # release held responses first
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        runtime_of(self.app).close()


@contextmanager
def threaded_simulator(
    options: SimulatorOptions | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[ThreadedSimulator]:
    """Serve a simulator on ``host:port`` (0: a free port) in a thread; stop it on exit."""
    app = create_simulator_app(options)
    server = cast(
        ThreadedWSGIServer,
        make_server(host, port, app, threaded=True, request_handler=_QuietHandler),
    )
    server.daemon_threads = True
    server.block_on_close = False  # a held "timeout" response must not delay the stop
    # a short poll interval: shutdown() waits for the loop to notice (0.5 s by default)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="simulator", daemon=True
    )
    thread.start()
    running = ThreadedSimulator(app, server, thread)
    try:
        yield running
    finally:
        running.stop()

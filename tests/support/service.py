"""A ledger service and a simulator on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import magic_hour
from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler, make_server

from ledger import accounting, teams
from ledger.db import Database
from ledger.models import Job
from ledger.simulator.testing import SimulatorHandle, free_port

FAST = dict(time_scale=0.01, queue_seconds=1.0, render_base_seconds=2.0, jitter=0.2, seed=7)
UPSTREAM_TOKEN = "sk-company-upstream-token-DO-NOT-LEAK"
ADMIN_TOKEN = "admin-token-for-tests"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve a WSGI app from a thread on a free port; yields its base URL."""
    server = cast(
        ThreadedWSGIServer,
        make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet),
    )
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Ledger:
    """A running ledger service and ways to look inside it."""

    url: str
    app: Flask
    database: Database
    simulator: SimulatorHandle

    def team(self, slug: str, budget: int, **options: Any) -> str:
        """Create a team; return a fresh key for it."""
        with self.database.write() as session:
            teams.create_team(session, slug, budget_credits=budget, **options)
            return teams.create_key(session, slug).secret

    def balance(self, slug: str) -> accounting.BalanceView:
        with self.database.read() as session:
            return accounting.balance_of(session, teams.get_team(session, slug))

    def jobs(self, slug: str) -> list[Job]:
        with self.database.read() as session:
            team = teams.get_team(session, slug)
            return list(
                session.query(Job).filter(Job.team_id == team.id).order_by(Job.created_at, Job.id)
            )

    def creates_seen_upstream(self) -> int:
        counters = self.simulator.state()["counters"]
        return sum(
            n
            for name, n in counters.items()
            if name.startswith("POST /v1/") and name != "POST /v1/files/upload-urls"
        )

    def client(self, key: str | None, stack: ExitStack) -> magic_hour.Client:
        http = stack.enter_context(httpx.Client(timeout=30))
        return magic_hour.Client(token=key, base_url=self.url, httpx_client=http)


@contextmanager
def ledger_serve(
    env: dict[str, str],
    *args: str,
    log_path: str | None = None,
    port: int | None = None,
    cwd: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``ledger serve`` as a subprocess on ``port`` (default: a free one), ready; terminated
    (SIGTERM) on exit. It leads its own process group, so that a test can kill the gunicorn
    master and its workers at once (``os.killpg(process.pid, signal.SIGKILL)``). Started in
    ``cwd``, it is started as a user types it there: the installed ``ledger`` script."""
    port = port or free_port()
    program = [sys.executable, "-m", "ledger"]
    if cwd is not None:
        program = [str(Path(sys.executable).with_name("ledger"))]
    log = open(log_path, "a+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    # The server's metrics directory is the test's: removed here even when a test SIGKILLs it.
    metrics = tempfile.TemporaryDirectory(prefix="ledger-test-metrics-")
    process = subprocess.Popen(
        [*program, "serve", "--port", str(port), *args],
        env={"PROMETHEUS_MULTIPROC_DIR": metrics.name, **os.environ, **env},
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"ledger serve exited: {log.read().decode(errors='replace')}")
            try:
                if httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("ledger serve did not become ready")
            time.sleep(0.1)
        yield url, process
    finally:
        stop_group(process)
        log.close()
        metrics.cleanup()


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process that leads its own group (a graceful stop), SIGKILL the group after
    20 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

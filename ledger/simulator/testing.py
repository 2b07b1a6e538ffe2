"""Start a simulator from a test and ask it what really happened.

    from ledger.simulator.testing import running_simulator

    with running_simulator(SimulatorOptions(time_scale=0.01)) as sim:
        client = magic_hour.Client(token="x", base_url=sim.url)
        ...
        assert sim.state()["account"]["credits"] == ...

``running_simulator`` serves the app from a thread of the test process (fast, one process);
``simulator_process`` runs the real ``ledger simulator`` command with gunicorn. Both yield a
:class:`SimulatorHandle` and stop the server when the block ends, whatever happens in it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from ledger.simulator.options import SimulatorOptions
from ledger.simulator.server import threaded_simulator

START_TIMEOUT = 20.0


class SimulatorHandle:
    """A running simulator: its base URL and its inspection and control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=10)

    def close(self) -> None:
        self._http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        """``GET /_simulator/state``: account, job totals, request counters, faults."""
        return self._json("GET", "/_simulator/state")

    def jobs(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /_simulator/jobs``: every job the simulator created (``kind``, ``status``)."""
        return self._json("GET", "/_simulator/jobs", params=filters)["items"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/_simulator/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job as a user would from the web app."""
        return self._json("POST", f"/_simulator/jobs/{job_id}/cancel")

    def create_outside(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /_simulator/projects``: create a project on ``endpoint`` (``image-to-video``)
        as another client of the account would (another key, the web app): charged, rendered
        and announced by webhooks like any other. Returns that endpoint's create response."""
        return self._json("POST", "/_simulator/projects", json={"endpoint": endpoint, "body": body})

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change some faults at run time (``error_rate=1.0``, ``scope="get"``, ...)."""
        return self._json("PATCH", "/_simulator/faults", json=changes)

    def clear_faults(self) -> dict[str, Any]:
        return self._json("PUT", "/_simulator/faults", json={})

    def reset(self) -> None:
        """Forget every job and counter; faults back to the start options."""
        self._json("POST", "/_simulator/reset")

    def wait_until_settled(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every job is terminal; return the jobs."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.jobs()
            if all(job["status"] in ("complete", "error", "canceled") for job in jobs):
                return jobs
            if time.monotonic() > deadline:
                raise TimeoutError("simulator jobs still rendering")
            time.sleep(0.02)


@contextmanager
def running_simulator(
    options: SimulatorOptions | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[SimulatorHandle]:
    """A simulator served from a background thread on ``host:port`` (0: a free port)."""
    with threaded_simulator(options, host=host, port=port) as server:
        handle = SimulatorHandle(server.url)
        try:
            yield handle
        finally:
            handle.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def simulator_process(
    args: Sequence[str] = (), *, host: str = "127.0.0.1", workers: int = 2
) -> Iterator[SimulatorHandle]:
    """``ledger simulator ARGS`` as a subprocess on a free port; terminated on exit."""
    port = free_port(host)
    command = [
        sys.executable,
        "-m",
        "ledger",
        "simulator",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *args,
    ]
    # a file, not a pipe: a pipe nobody reads would block the server once full
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ)
        )
        handle = SimulatorHandle(f"http://{host}:{port}")
        try:
            _wait_until_up(handle, process, log)
            yield handle
        finally:
            handle.close()
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_until_up(handle: SimulatorHandle, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace").strip()
            raise RuntimeError(f"ledger simulator exited with {process.returncode}: {error}")
        try:
            handle._http.get("/_simulator/healthz", timeout=0.5).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError("ledger simulator did not start in time")

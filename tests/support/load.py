"""Load, faults and crashes for the fault tests, and the reckoning afterwards.

- :class:`Load`: client threads sending image-to-video creates through ledger over loopback,
  round robin over the instances, recording what each caller saw. Each request is named (the
  body's ``name``, which the simulator keeps, and the tag ``req``, which ledger keeps), so that
  every project the simulator created can be traced to the ledger job that holds it.
- :class:`Instance` and :class:`Worker`: ``ledger serve`` and ``ledger worker`` subprocesses that
  a test can SIGKILL (the whole process group) and start again.
- :func:`reckon`: after the load, every project the simulator made is matched against the
  ledger's jobs, the books checked, and ``ledger audit`` run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from ledger import teams
from ledger.db import Database
from ledger.models import Job, JobStatus, utcnow
from ledger.simulator.testing import SimulatorHandle, free_port, simulator_process
from tests.support.service import FAST, UPSTREAM_TOKEN, ledger_serve, stop_group

IMAGE = "api-assets/id/image.png"
CLIP_SECONDS = 3  # the shortest clip the default model (kling-3.0) renders
ESTIMATE = 144  # credits of one clip: kling-3.0 at 720p (no model, creator), 48/s x 3 s
CONNECT_DEADLINE = 45.0  # how long a client keeps trying to reach some instance
# The simulator's faults during a load, each drawn per create (see ledger.simulator.options).
FAULTS: dict[str, float] = dict(
    rate_limit_rate=0.04,
    retry_after=1,
    error_rate=0.04,
    drop_rate=0.02,
    timeout_rate=0.02,
    timeout_seconds=2.5,  # longer than LEDGER_UPSTREAM_TIMEOUT (1 s): ledger gives up first
    slow_rate=0.05,
    slow_seconds=0.4,  # answered within the upstream timeout
)


def simulator_args(*extra: str) -> list[str]:
    """``ledger simulator`` options for fast renders (``FAST``), plus ``extra``."""
    return [
        "--token",
        UPSTREAM_TOKEN,
        "--time-scale",
        str(FAST["time_scale"]),
        "--queue-seconds",
        str(FAST["queue_seconds"]),
        "--render-base-seconds",
        str(FAST["render_base_seconds"]),
        "--jitter",
        str(FAST["jitter"]),
        "--seed",
        str(FAST["seed"]),
        *extra,
    ]


def ledger_env(database_url: str, simulator: SimulatorHandle, **settings: str) -> dict[str, str]:
    return {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_UPSTREAM_URL": simulator.url,
        "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
        "LEDGER_UPSTREAM_TIMEOUT": "1",
        "LEDGER_POLL_INTERVAL": "0.5",
        "LEDGER_POLL_RATE": "500",
        **settings,
    }


def make_team(database_url: str, slug: str, budget: int) -> str:
    """Create a team with ``budget`` credits; return a key for it."""
    database = Database(database_url)
    try:
        with database.write() as session:
            teams.create_team(session, slug, budget_credits=budget)
            return teams.create_key(session, slug).secret
    finally:
        database.dispose()


# -- clients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one caller saw."""

    request: str  # the body's name and the tag req=...
    team: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: sent, but no answer came (the connection was lost)
    code: str | None  # the error code of the body, ledger's or upstream's
    job_id: str | None  # X-Ledger-Job-Id, or the job named in a 504
    ledger_error: bool  # the body is ledger's JSON error shape {"error": {"code", "message"}}
    warning: bool = False  # X-Ledger-Warning: upstream answered, ledger could not record it

    @property
    def label(self) -> str:
        if self.status is None:
            return "no answer" if self.code is None else self.code
        return str(self.status)


class Load:
    """``clients`` threads sending ``total`` creates, request ``n`` as team ``n % len(keys)``
    to instance ``n % len(urls)``. A request that could not connect (nothing was sent) goes to
    the next instance, again and again up to ``CONNECT_DEADLINE``; a request that was sent is
    never sent again, whatever happens to it, as a careful client does with a create."""

    def __init__(
        self,
        urls: Sequence[str],
        keys: Sequence[tuple[str, str]],
        *,
        total: int,
        clients: int,
        pace: float = 0.0,
    ) -> None:
        self.urls = list(urls)
        self.keys = list(keys)  # (team slug, key)
        self.total = total
        self.clients = clients
        self.pace = pace
        self.outcomes: list[Outcome] = []
        self.connect_retries = 0
        self._next = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> Load:
        self.started = time.monotonic()
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, name=f"client-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            self._stopping.set()
            raise TimeoutError(f"the load did not finish within {timeout:g} s")
        self.duration = time.monotonic() - self.started

    def stop(self) -> None:
        """Send no more creates; those under way finish (``join`` waits for them)."""
        self._stopping.set()

    def since(self, moment: float) -> list[Outcome]:
        """The outcomes of the creates sent at ``moment`` (``time.monotonic()``) or later."""
        with self._lock:
            return [outcome for outcome in self.outcomes if outcome.started >= moment]

    @property
    def sent(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(outcome.label for outcome in self.outcomes)

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.total or self._stopping.is_set():
                return None
            self._next += 1
            return self._next - 1

    def _client(self) -> None:
        with httpx.Client(timeout=30) as http:
            while (number := self._take()) is not None:
                outcome = self._send(http, number)
                with self._lock:
                    self.outcomes.append(outcome)
                if self.pace:
                    time.sleep(self.pace)

    def _send(self, http: httpx.Client, number: int) -> Outcome:
        name = f"load-{number:05d}"
        team, key = self.keys[number % len(self.keys)]
        body = {"assets": {"image_file_path": IMAGE}, "end_seconds": CLIP_SECONDS, "name": name}
        headers = {"Authorization": f"Bearer {key}", "X-Ledger-Tags": f"req={name}"}
        started = time.monotonic()
        attempt = 0
        while True:
            url = self.urls[(number + attempt) % len(self.urls)]
            try:
                response = http.post(f"{url}/v1/image-to-video", json=body, headers=headers)
                break
            except httpx.ConnectError:
                # Nothing was sent: safe to send elsewhere, or here again a little later.
                attempt += 1
                with self._lock:
                    self.connect_retries += 1
                if time.monotonic() - started > CONNECT_DEADLINE:
                    return Outcome(
                        name, team, started, time.monotonic(), None, "unreachable", None, False
                    )
                if attempt % len(self.urls) == 0:
                    time.sleep(0.05)
            except httpx.TransportError:
                # Sent, and no answer: the create may exist upstream. Never sent again.
                return Outcome(name, team, started, time.monotonic(), None, None, None, False)
        ended = time.monotonic()
        job_id = response.headers.get("x-ledger-job-id")
        code, ledger_error = None, False
        if response.status_code >= 400:
            try:
                document = response.json()
            except ValueError:
                document = None
            error = document.get("error") if isinstance(document, dict) else None
            if isinstance(error, dict):
                code = error.get("code")
                job_id = job_id or error.get("job_id")
                ledger_error = isinstance(code, str) and isinstance(error.get("message"), str)
            elif isinstance(document, dict):
                code = document.get("code")  # upstream's own error body, passed through
        warning = "x-ledger-warning" in response.headers
        return Outcome(
            name, team, started, ended, response.status_code, code, job_id, ledger_error, warning
        )


# -- processes -------------------------------------------------------------------------------


class Instance:
    """``ledger serve`` on a fixed port, which can be SIGKILLed (master and workers at once)
    and started again on the same port."""

    def __init__(self, env: dict[str, str], args: Sequence[str], log_path: Path) -> None:
        self.env, self.args, self.log_path = env, list(args), log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kills = 0
        self._stack: ExitStack | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        stack = ExitStack()
        _, self._process = stack.enter_context(
            ledger_serve(self.env, *self.args, log_path=str(self.log_path), port=self.port)
        )
        self._stack = stack

    def kill(self) -> None:
        assert self._process is not None and self._stack is not None
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        self._stack.close()
        self._stack = None
        self.kills += 1

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()  # SIGTERM: a graceful stop
            self._stack = None


class Worker:
    """``ledger worker`` (the reconciliation scheduler alone), which can be SIGKILLed."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.kills = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ledger", "worker"],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process)


@dataclass
class Deployment:
    """A simulator process, ``ledger worker`` and ``ledger serve`` instances, all on one
    database; see :func:`deployment`."""

    simulator: SimulatorHandle
    worker: Worker
    instances: list[Instance]
    _ledger: ExitStack

    def stop_ledger(self) -> None:
        """Stop the instances and the worker (SIGTERM); the simulator keeps running."""
        self._ledger.close()

    @property
    def urls(self) -> list[str]:
        return [instance.url for instance in self.instances]

    def injected_faults(self) -> dict[str, int]:
        """The faults the simulator injected, by name, as it counted them."""
        counters = self.simulator.state()["counters"]
        return {
            name.removeprefix("fault:"): n
            for name, n in sorted(counters.items())
            if name.startswith("fault:")
        }


@contextmanager
def deployment(
    database_url: str,
    logs: Path,
    *,
    instances: int = 2,
    serve_args: Sequence[str] = ("--workers", "2", "--threads", "16"),
    simulator_extra: Sequence[str] = ("--job-error-rate", "0.05"),
    **settings: str,
) -> Iterator[Deployment]:
    """The simulator (its own gunicorn process), then ``ledger worker``, then ``instances`` of
    ``ledger serve --no-scheduler`` (ready only once the worker beats); all stopped at the end.
    ``settings``: environment variables for ledger beyond :func:`ledger_env`'s."""
    with (
        simulator_process(simulator_args("--threads", "48", *simulator_extra)) as simulator,
        ExitStack() as stack,
    ):
        env = ledger_env(database_url, simulator, **settings)
        worker = Worker(env, logs / "worker.log")
        worker.start()
        stack.callback(worker.stop)
        running = []
        for n in range(instances):
            instance = Instance(env, ["--no-scheduler", *serve_args], logs / f"serve-{n}.log")
            instance.start()
            stack.callback(instance.stop)
            running.append(instance)
        yield Deployment(simulator, worker, running, stack)


# -- afterwards ------------------------------------------------------------------------------


def claimed_jobs(database: Database) -> int:
    """Jobs a worker has claimed and not polled yet: their next poll is a lease (2 min) ahead;
    a poll that finds a job unfinished puts its next one at most 12 intervals ahead."""
    with database.read() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Job.status == JobStatus.SUBMITTED.value,
                    Job.next_poll_at > utcnow() + timedelta(seconds=60),
                )
            )
            or 0
        )


def wait_for_settlement(database_url: str, timeout: float, *, stalled: float | None = None) -> int:
    """Wait until no job is ``submitted`` (the worker has settled them), at most ``timeout``
    seconds, or, with ``stalled``, until their number has not changed for that long (what is
    left waits for a lease to run out). Returns how many are left."""
    database = Database(database_url)
    try:
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while True:
            with database.read() as session:
                left = int(
                    session.scalar(
                        select(func.count()).where(Job.status == JobStatus.SUBMITTED.value)
                    )
                    or 0
                )
            now = time.monotonic()
            if left != last:
                last, since = left, now
            if not left or now > deadline or (stalled is not None and now - since > stalled):
                return left
            time.sleep(0.5)
    finally:
        database.dispose()

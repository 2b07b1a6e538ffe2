"""How ledger settles jobs after they finish upstream, measured side by side in one run.

    python bench/reconcile_bench.py [--jobs 2000] [--spread 600] [--time-scale 0.2]
                                    [--strategies naive,poll,webhook] [--poll-rate 200]
                                    [--postgres-url URL] [--json PATH]

For each strategy, in turn, against a fresh `ledger simulator` (2 gunicorn workers, a subprocess)
and a fresh ledger database (SQLite file, or a PostgreSQL database created and dropped here):

- ``naive``: a loop in this script that GETs every open job every poll interval, settles what it
  finds terminal (one transaction each), and sleeps out the rest of the interval (a baseline);
- ``poll``: polling only, ledger's :class:`~ledger.reconcile.Reconciler` swept by APScheduler
  exactly as ``ledger worker`` does (every poll interval, ``max_instances=1``, coalesced);
- ``webhook``: webhooks with the safety-net sweep, as ``ledger serve`` runs them with
  ``LEDGER_WEBHOOK_SECRET`` set: the simulator signs its webhooks (``--webhook-secret``) and
  sends them to the ledger Flask app (``ledger.web.create_app`` with ``webhook_secret``, served
  from a thread of this process), which verifies each call and keeps it in the inbox; a thread
  here drains the inbox every 0.25 s (``ledger.webhooks.inbox.drain``, what ``ledger serve``'s
  scheduler does), which settles a job from its terminal payload without polling; the same
  Reconciler sweeps as above with ``expect_webhooks=True``, its first poll of a job only a safety
  net put well after the job's predicted end.

Gone since issue 15: ``poll+fix`` and ``webhook+fix`` (the changes bench/reconcile_fixes.py
prototyped were adopted in ledger/reconcile.py in 701063c and 2d16098, and the webhook route no
longer polls at all, so there is nothing left to prototype; the module is removed), and with
them the WSGI wrapper that answered ``*.started`` webhooks without a poll (a started event moves
no money and causes no poll now).

Jobs are image-to-video with model ``ltx-2.5`` (clips of 1-60 s, uniformly drawn; ledger's price
table is not involved, the bench holds what the simulator charged), created on the simulator
directly at a steady rate over ``--spread`` simulated seconds, then held and recorded in the
ledger as the proxy leaves them (``accounting.reserve``, upstream id, status ``submitted``,
``submitted_at``, ``clip_seconds``; ``next_poll_at`` left NULL so the Reconciler schedules the
first poll). Simulator render time = (queue 2 s + 3 s + 1.6 s x clip) x (1 +/- 0.2): 5-121 s.

Everything time-like is scaled by ``--time-scale`` (simulated seconds x scale = real seconds):
render times, the poll interval (5 s simulated), the claim lease (2 min simulated), the upstream
rate cap (``--poll-rate`` requests per simulated second) and the Reconciler's priors, which are
real seconds in ledger/reconcile.py: the bench passes a ``timings`` dict pre-filled with
``PRIOR_BASE_SECONDS["video"]`` and ``PRIOR_SECONDS_PER_CLIP_SECOND`` times the scale. What the
webhook path does is not scaled (the simulator's delivery, the route, the 0.25 s drain are real
time, as in production), so its settle lag is judged in real seconds. The default 2,000 jobs
over 600 simulated s at scale 0.2 are 16.7 creates and 33 webhook events per real second: issue
5's 10,000 jobs in 10 minutes, at its real rate (10,000 jobs at scale 0.2, the old default,
would send the webhook path five times that, and take about 9 minutes per strategy).

Measured per strategy: upstream project GETs (the simulator's counter) per settled job; the
settle lag, from the simulator job's planned ``finishes_at`` to the ledger job's ``ended_at``
(real seconds, simulated in brackets); whether every job settled to the simulator's final charge;
with webhooks, every event's delivery (the simulator's counters) and where the lag goes (end ->
kept in the inbox -> processed). Targets (issue 15): GETs per settled job <= 0.2 with webhooks
(every event delivered) and <= 1.5 with polling only; settle lag p95 <= 1 s with webhooks.
Every process and thread started here is stopped at the end, whatever happens; every wait is
bounded.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import accounting, db, teams
from ledger.config import load_settings
from ledger.db import Database
from ledger.errors import HoldEnded
from ledger.models import Job, WebhookEvent, utcnow
from ledger.reconcile import (
    PRIOR_BASE_SECONDS,
    PRIOR_SECONDS_PER_CLIP_SECOND,
    TERMINAL,
    Reconciler,
    Timing,
)
from ledger.simulator.testing import SimulatorHandle, free_port, simulator_process
from ledger.upstream import Upstream
from ledger.web import create_app, services_of
from ledger.webhooks import inbox

TOKEN = "sk-reconcile-bench"
SECRET = "reconcile-bench-secret"
IMAGE = "api-assets/id/image.png"
ENDPOINT = "image-to-video"
MODEL = "ltx-2.5"  # clips of 1-60 s
CLIPS = (1, 60)
QUEUE_SECONDS, RENDER_BASE, RENDER_PER_SECOND, JITTER = 2.0, 3.0, 1.6, 0.2
POLL_INTERVAL = 5.0  # simulated seconds
LEASE = 120.0  # simulated seconds (the Reconciler's default two minutes)
GETS = "GET /v1/video-projects"
STRATEGIES = ("naive", "poll", "webhook")
# issue 15: GETs per settled job, and settle lag p95 in real seconds (None: no target)
TARGETS: dict[str, tuple[float, float | None]] = {"poll": (1.5, None), "webhook": (0.2, 1.0)}
WARMUP = 0.2  # the first 20 % of jobs are left out of the steady-state figures
END_EVENTS = (".completed", ".errored")

log = logging.getLogger("reconcile_bench")


@dataclass
class Setup:
    jobs: int
    spread: float  # simulated seconds over which jobs are created
    scale: float
    poll_rate: float  # upstream requests per simulated second
    seed: int
    postgres_url: str | None

    def real(self, simulated: float) -> float:
        return simulated * self.scale


@dataclass
class Outcome:
    strategy: str
    created: int = 0
    settled: int = 0
    gets: int = 0
    lags: list[float] = field(default_factory=list)  # real seconds, every settled job
    steady_lags: list[float] = field(default_factory=list)
    steady_polls: list[int] = field(default_factory=list)
    polls: dict[str, int] | None = None  # ledger job id -> GETs, when the ledger does not count
    by_clip: dict[str, dict[str, float]] = field(default_factory=dict)
    mismatches: int = 0
    webhooks: dict[str, int] = field(default_factory=dict)  # the simulator's webhook counters
    wall: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def gets_per_job(self) -> float:
        return self.gets / self.settled if self.settled else float("nan")

    def p(self, q: float, steady: bool = False) -> float:
        return quantile(self.steady_lags if steady else self.lags, q)

    def all_delivered(self) -> bool:
        """Every job's started and end event answered 2xx in the end (retries allowed), none
        dropped by the sender or given up."""
        w = self.webhooks
        lost = w.get("dropped", 0) + w.get("gave_up", 0)
        return w.get("sent", 0) == 2 * self.created and lost == 0


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def pair(values: list[float], digits: int = 3) -> list[float]:
    return [round(quantile(values, 0.5), digits), round(quantile(values, 0.95), digits)]


# -- databases --------------------------------------------------------------------------------


@contextmanager
def fresh_database(setup: Setup, workdir: Path, name: str) -> Iterator[Database]:
    """A migrated, empty ledger database: a SQLite file, or a PostgreSQL database dropped after."""
    if setup.postgres_url is None:
        url = f"sqlite:///{workdir / (name + '.db')}"
        admin = None
    else:
        admin_url = make_url(setup.postgres_url).set(drivername="postgresql+psycopg")
        dbname = f"ledger_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{dbname}"'))
        url = admin_url.set(database=dbname).render_as_string(hide_password=False)
    database = Database(url, **({} if admin is None else {"pool_size": 20}))
    try:
        db.upgrade(database)
        yield database
    finally:
        database.dispose()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            admin.dispose()


# -- creating jobs at a steady rate -----------------------------------------------------------


class Creator(threading.Thread):
    """Creates the jobs on the simulator at a steady rate and records each in the ledger as the
    proxy would after upstream accepted it (in batches, one transaction per batch)."""

    def __init__(
        self,
        setup: Setup,
        simulator: str,
        database: Database,
        team_id: int,
        on_recorded: Callable[[list[tuple[str, str]]], None] = lambda jobs: None,
    ) -> None:
        super().__init__(name="creator", daemon=True)
        self.setup, self.simulator, self.database = setup, simulator, database
        self.team_id = team_id
        self.on_recorded = on_recorded
        rng = random.Random(setup.seed)
        self.clips = [rng.randint(*CLIPS) for _ in range(setup.jobs)]
        self.created = 0
        self.started_at = 0.0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _run(self) -> None:
        gap = self.setup.real(self.setup.spread) / self.setup.jobs
        self.started_at = time.monotonic()
        with httpx.Client(base_url=self.simulator, timeout=30) as http:
            while self.created < self.setup.jobs and not self.stop.is_set():
                due = min(self.setup.jobs, int((time.monotonic() - self.started_at) / gap) + 1)
                batch = []
                for n in range(self.created, due):
                    response = http.post(
                        f"/v1/{ENDPOINT}",
                        json={
                            "model": MODEL,
                            "assets": {"image_file_path": IMAGE},
                            "end_seconds": self.clips[n],
                        },
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    response.raise_for_status()
                    batch.append((response.json(), self.clips[n], utcnow()))
                if batch:
                    self.on_recorded(self._record(batch))
                    self.created = due
                next_at = self.started_at + self.created * gap
                self.stop.wait(max(0.005, next_at - time.monotonic()))

    def _record(self, batch: list[tuple[dict[str, Any], int, datetime]]) -> list[tuple[str, str]]:
        recorded = []
        with self.database.write() as session:
            for project, clip, submitted in batch:
                job = accounting.reserve(
                    session,
                    self.team_id,
                    project["credits_charged"],
                    endpoint=ENDPOINT,
                    kind="video",
                    model=MODEL,
                    now=submitted,
                )
                # reserve may hand back a detached row: record the rest with one UPDATE
                session.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(
                        upstream_id=project["id"],
                        status="submitted",
                        submitted_at=submitted,
                        clip_seconds=float(clip),
                    )
                )
                recorded.append((job.id, project["id"]))
        return recorded


# -- the strategies ---------------------------------------------------------------------------


class NaivePoller(threading.Thread):
    """Every interval, GET every open job (16 threads); settle the terminal ones."""

    def __init__(self, setup: Setup, simulator: str, database: Database) -> None:
        super().__init__(name="naive", daemon=True)
        self.setup, self.simulator, self.database = setup, simulator, database
        self.open: dict[str, str] = {}  # job id -> upstream id
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticks: list[float] = []  # real start time of each round
        self.gets: dict[str, int] = {}
        self.local = threading.local()
        self.clients: list[httpx.Client] = []

    def add(self, jobs: list[tuple[str, str]]) -> None:
        with self.lock:
            self.open.update(jobs)

    def _get(self, item: tuple[str, str]) -> None:
        job_id, upstream_id = item
        http = getattr(self.local, "http", None)
        if http is None:
            http = self.local.http = httpx.Client(base_url=self.simulator, timeout=30)
            with self.lock:
                self.clients.append(http)
        reply = http.get(
            f"/v1/video-projects/{upstream_id}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with self.lock:
            self.gets[job_id] = self.gets.get(job_id, 0) + 1
        project = reply.json()
        if reply.status_code == 200 and project.get("status") in TERMINAL:
            try:
                with self.database.write() as session:
                    accounting.settle(session, job_id, int(project["credits_charged"]))
            except HoldEnded:
                pass
            with self.lock:
                self.open.pop(job_id, None)

    def run(self) -> None:
        interval = self.setup.real(POLL_INTERVAL)
        try:
            with ThreadPoolExecutor(16, thread_name_prefix="naive-get") as pool:
                while not self.stop.is_set():
                    start = time.monotonic()
                    self.ticks.append(start)
                    with self.lock:
                        items = list(self.open.items())
                    list(pool.map(self._get, items))
                    self.stop.wait(max(0.0, start + interval - time.monotonic()))
        finally:
            for client in self.clients:
                client.close()


def scaled_reconciler(setup: Setup, database: Database, simulator: str) -> Reconciler:
    """The Reconciler with every time-like setting scaled from simulated to real seconds."""
    s = setup.scale
    timings = {ENDPOINT: Timing(PRIOR_BASE_SECONDS["video"] * s, PRIOR_SECONDS_PER_CLIP_SECOND * s)}
    return Reconciler(
        database,
        Upstream(simulator, TOKEN, timeout=30),
        poll_interval=POLL_INTERVAL * s,
        max_requests_per_second=setup.poll_rate / s,
        lease=timedelta(seconds=LEASE * s),
        timings=timings,
    )


@contextmanager
def sweeping(reconciler: Reconciler, notes: dict[str, Any]) -> Iterator[None]:
    """Sweeps as ``ledger worker`` runs them: APScheduler, every poll interval, one at a time."""
    durations: list[float] = []
    skipped = [0]

    def sweep() -> None:
        start = time.monotonic()
        reconciler.sweep()
        durations.append(time.monotonic() - start)

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        sweep,
        "interval",
        seconds=reconciler.poll_interval,
        id="reconcile",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=None,
    )

    def on_skip(_event: Any) -> None:
        skipped[0] += 1

    scheduler.add_listener(on_skip, EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        yield
    finally:
        scheduler.shutdown(wait=True)
        reconciler.upstream.close()
        notes["sweeps"] = len(durations)
        notes["sweeps_skipped_busy"] = skipped[0]
        if durations:
            notes["sweep_mean_real_s"] = round(statistics.fmean(durations), 3)
            notes["sweep_max_real_s"] = round(max(durations), 3)


class InboxDrainer(threading.Thread):
    """``inbox.drain(database)`` every ``inbox.DRAIN_SECONDS`` (0.25 s), as ``ledger serve``'s
    scheduler runs it: on a fixed grid, one drain at a time, a drain that overruns its slot
    skipping the slots it covered (APScheduler's ``max_instances=1``, coalesced)."""

    def __init__(self, database: Database) -> None:
        super().__init__(name="inbox-drain", daemon=True)
        self.database = database
        self.stop = threading.Event()
        self.durations: list[float] = []
        self.skipped = 0
        self.errors = 0
        self.totals: dict[str, int] = {}

    def run(self) -> None:
        interval = inbox.DRAIN_SECONDS
        origin = time.monotonic()
        slot = 0
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                report = inbox.drain(self.database)
            except Exception:  # the scheduler logs and carries on; so do we
                log.exception("inbox drain failed")
                self.errors += 1
            else:
                for name, value in vars(report).items():
                    self.totals[name] = self.totals.get(name, 0) + value
            now = time.monotonic()
            self.durations.append(now - start)
            following = math.floor((now - origin) / interval) + 1
            self.skipped += max(0, following - slot - 1)
            slot = following
            self.stop.wait(max(0.0, origin + slot * interval - time.monotonic()))

    def notes(self) -> dict[str, Any]:
        notes: dict[str, Any] = {"drains": len(self.durations), "drain_slots_skipped": self.skipped}
        notes["drain_errors"] = self.errors
        notes["drained"] = self.totals
        if self.durations:
            notes["drain_mean_max_real_s"] = [
                round(statistics.fmean(self.durations), 4),
                round(max(self.durations), 3),
            ]
        return notes


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    server = cast(
        BaseWSGIServer,
        make_server("127.0.0.1", port, app, threaded=True, request_handler=_Quiet),
    )
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def timed(wsgi: Callable[..., Any], took: list[float]) -> Callable[..., Any]:
    """WSGI wrapper: how long each webhook call took the ledger to answer (real seconds; the
    simulator's sender waits for each answer before it sends its next event)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start = time.monotonic()
        try:
            return list(wsgi(environ, start_response))
        finally:
            took.append(time.monotonic() - start)

    return app


def simulator_args(setup: Setup, webhook_url: str | None) -> list[str]:
    args = [
        "--token",
        TOKEN,
        "--start-credits",
        str(10**15),
        "--time-scale",
        str(setup.scale),
        "--queue-seconds",
        str(QUEUE_SECONDS),
        "--render-base-seconds",
        str(RENDER_BASE),
        "--render-seconds-per-second",
        str(RENDER_PER_SECOND),
        "--jitter",
        str(JITTER),
        "--threads",
        "16",
    ]
    if webhook_url:
        args += ["--webhook-url", webhook_url, "--webhook-secret", SECRET]
    return args


def open_count(database: Database) -> int:
    with database.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(Job).where(Job.ended_at.is_(None))) or 0
        )


def run_strategy(strategy: str, setup: Setup, workdir: Path) -> Outcome:
    outcome = Outcome(strategy)
    webhooks = strategy == "webhook"
    reconciler: Reconciler | None = None
    drainer: InboxDrainer | None = None
    started = time.monotonic()
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database(setup, workdir, strategy))
        with database.write() as session:
            team = teams.create_team(session, "bench", budget_credits=10**15)
            team_id = team.id
        ledger_port = free_port()
        webhook_url = f"http://127.0.0.1:{ledger_port}/webhooks/magic-hour" if webhooks else None
        simulator: SimulatorHandle = stack.enter_context(
            simulator_process(simulator_args(setup, webhook_url), workers=2)
        )
        naive: NaivePoller | None = None
        if strategy == "naive":
            naive = NaivePoller(setup, simulator.url, database)
            creator = Creator(setup, simulator.url, database, team_id, naive.add)
            naive.start()
            stack.callback(naive.join, 30)
            stack.callback(naive.stop.set)
        else:
            reconciler = scaled_reconciler(setup, database, simulator.url)
            reconciler.expect_webhooks = webhooks  # as `ledger serve` does with a webhook secret
            if webhooks:
                settings = load_settings(
                    {},
                    database_url=database.url.render_as_string(hide_password=False),
                    upstream_url=simulator.url,
                    magic_hour_api_key=TOKEN,
                    webhook_secret=SECRET,
                    poll_interval=reconciler.poll_interval,
                    poll_rate=reconciler.max_requests_per_second,
                )
                app = create_app(settings, database=database)
                stack.callback(services_of(app).upstream.close)
                answers: list[float] = []
                outcome.notes["webhook_answer_times"] = answers  # replaced by its quantiles
                app.wsgi_app = timed(app.wsgi_app, answers)  # type: ignore[method-assign]
                stack.enter_context(serving(app, ledger_port))
                drainer = InboxDrainer(database)
                drainer.start()
                stack.callback(drainer.join, 30)
                stack.callback(drainer.stop.set)
            stack.enter_context(sweeping(reconciler, outcome.notes))
            creator = Creator(setup, simulator.url, database, team_id)
        creator.start()
        stack.callback(creator.join, 30)
        stack.callback(creator.stop.set)
        # bounded: creation time + the longest render + 4 minutes of simulated slack, + 30 s
        deadline = started + setup.real(setup.spread + 145 + 240) + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if creator.error is not None:
                raise RuntimeError(f"creating jobs failed: {creator.error!r}")
            if not creator.is_alive() and open_count(database) == 0:
                break
        outcome.wall = time.monotonic() - started
        creator.stop.set()
        if naive is not None:
            naive.stop.set()
            naive.join(30)
            outcome.polls = naive.gets
            if len(naive.ticks) > 1:
                gaps = [b - a for a, b in itertools.pairwise(naive.ticks)]
                outcome.notes["naive_round_mean_max_sim_s"] = [
                    round(statistics.fmean(gaps) / setup.scale, 2),
                    round(max(gaps) / setup.scale, 2),
                ]
        if drainer is not None:
            drainer.stop.set()
            drainer.join(30)
            outcome.notes.update(drainer.notes())
        state = simulator.state()
        truth = {job["id"]: job for job in simulator.jobs()}
        outcome.gets = int(state["counters"].get(GETS, 0))
        outcome.webhooks = {
            k.split(":", 1)[1]: v for k, v in state["counters"].items() if k.startswith("webhook:")
        }
        collect(outcome, setup, database, truth)
        answers = outcome.notes.pop("webhook_answer_times", None)
        if answers:
            outcome.notes["webhook_answer_p50_p95_max_real_ms"] = [
                round(quantile(answers, 0.5) * 1000, 1),
                round(quantile(answers, 0.95) * 1000, 1),
                round(max(answers) * 1000, 1),
            ]
        if webhooks:
            collect_inbox(outcome, setup, database, truth)
        if reconciler is not None and reconciler.factors:
            outcome.notes["learned_factor_by_clip_bucket"] = {
                f"{2**b}-{2 ** (b + 1) - 1}s": round(f, 2)
                for (_, b), f in sorted(reconciler.factors.items())
            }
    return outcome


def collect(
    outcome: Outcome, setup: Setup, database: Database, truth: dict[str, dict[str, Any]]
) -> None:
    with database.read() as session:
        rows = session.execute(
            select(
                Job.id,
                Job.upstream_id,
                Job.ended_at,
                Job.polls,
                Job.clip_seconds,
                Job.charged_credits,
            )
        ).all()
    outcome.created = len(rows)
    warm = int(setup.jobs * WARMUP)
    order = {
        upstream: n
        for n, upstream in enumerate(sorted(truth, key=lambda u: truth[u]["created_at"]))
    }
    buckets: dict[str, list[tuple[float, int]]] = {}
    settled_by_poll = 0
    for job_id, upstream_id, ended_at, polls, clip, charged in rows:
        if outcome.polls is not None:
            polls = outcome.polls.get(job_id, 0)
        if ended_at is None:
            continue
        outcome.settled += 1
        settled_by_poll += bool(polls)
        job = truth[upstream_id]
        if charged != job["final_credits_charged"]:
            outcome.mismatches += 1
        lag = (ended_at - finished_at(job)).total_seconds()
        outcome.lags.append(lag)
        if order[upstream_id] >= warm:
            outcome.steady_lags.append(lag)
            outcome.steady_polls.append(polls or 0)
        label = f"{int((clip - 1) // 15) * 15 + 1}-{int((clip - 1) // 15) * 15 + 15}s"
        buckets.setdefault(label, []).append((lag, polls or 0))
    outcome.notes["created_on_simulator"] = len(truth)
    outcome.notes["jobs_polled_at_least_once"] = settled_by_poll
    outcome.notes["negative_lags"] = sum(1 for d in outcome.lags if d < 0)
    for label in sorted(buckets, key=lambda b: int(b.split("-")[0])):
        items = buckets[label]
        outcome.by_clip[label] = {
            "jobs": len(items),
            "polls_per_job": round(statistics.fmean(p for _, p in items), 2),
            "p95_lag_real_s": round(quantile([d for d, _ in items], 0.95), 2),
        }


def finished_at(job: dict[str, Any]) -> datetime:
    """When the simulator planned the render to end (its wall clock, this machine's)."""
    return datetime.fromisoformat(job["finishes_at"].replace("Z", "+00:00"))


def collect_inbox(
    outcome: Outcome, setup: Setup, database: Database, truth: dict[str, dict[str, Any]]
) -> None:
    """Where the webhook path's lag goes: render end -> kept in the inbox -> processed."""
    with database.read() as session:
        rows = session.execute(
            select(
                WebhookEvent.event_type,
                WebhookEvent.project_id,
                WebhookEvent.received_at,
                WebhookEvent.processed_at,
                WebhookEvent.outcome,
            )
        ).all()
    outcomes: dict[str, int] = {}
    delivery, waiting = [], []
    for event_type, project_id, received, processed, result in rows:
        key = f"{event_type.split('.', 1)[1]}:{result}"
        outcomes[key] = outcomes.get(key, 0) + 1
        if not event_type.endswith(END_EVENTS) or project_id not in truth:
            continue
        delivery.append((received - finished_at(truth[project_id])).total_seconds())
        if processed is not None:
            waiting.append((processed - received).total_seconds())
    outcome.notes["inbox_events_by_outcome"] = outcomes
    outcome.notes["end_events_kept"] = len(delivery)
    outcome.notes["end_to_kept_p50_p95_real_s"] = pair(delivery)
    outcome.notes["kept_to_processed_p50_p95_real_s"] = pair(waiting)


# -- report -----------------------------------------------------------------------------------


def verdicts(o: Outcome, setup: Setup) -> list[tuple[str, float, float, bool]]:
    """(what, measured, target, met) for each target of the strategy."""
    target = TARGETS.get(o.strategy)
    if target is None:
        return []
    every = o.settled == o.created == setup.jobs and o.mismatches == 0
    found = [("GETs/settled job", o.gets_per_job, target[0], every and o.gets_per_job <= target[0])]
    if target[1] is not None:
        found.append(("settle lag p95", o.p(0.95), target[1], every and o.p(0.95) <= target[1]))
    return found


def table(outcomes: list[Outcome], setup: Setup) -> str:
    s = setup.scale
    head = (
        f"{'strategy':<8} {'settled':>11} {'GETs/job':>9} {'steady':>7} "
        f"{'lag p50':>14} {'lag p95':>14} {'lag p99':>14} {'target':>22} {'met':>4}"
    )
    lines = [head, "-" * len(head)]
    for o in outcomes:
        steady_gets = statistics.fmean(o.steady_polls) if o.steady_polls else float("nan")
        target = TARGETS.get(o.strategy)
        target_text, met = "-", ""
        if target is not None:
            target_text = f"GETs <={target[0]:g}"
            if target[1] is not None:
                target_text += f", p95 <={target[1]:g} s"
            met = "yes" if all(ok for *_, ok in verdicts(o, setup)) else "NO"

        def cell(v: float) -> str:
            return f"{v:5.2f} ({v / s:5.1f})"

        settled = f"{o.settled}/{setup.jobs}"
        lines.append(
            f"{o.strategy:<8} {settled:>11} {o.gets_per_job:>9.2f} {steady_gets:>7.2f} "
            f"{cell(o.p(0.5)):>14} {cell(o.p(0.95)):>14} {cell(o.p(0.99)):>14} "
            f"{target_text:>22} {met:>4}"
        )
    return "\n".join(lines)


def summary(outcomes: list[Outcome], setup: Setup) -> str:
    lines = []
    for o in outcomes:
        if o.mismatches or o.settled != setup.jobs:
            lines.append(
                f"{o.strategy}: {o.settled}/{setup.jobs} settled, "
                f"{o.mismatches} not at the simulator's final charge"
            )
        for what, measured, target, ok in verdicts(o, setup):
            unit = " s" if "lag" in what else ""
            verdict = "met" if ok else f"MISSED by {measured - target:+.2f}{unit}"
            lines.append(
                f"{o.strategy}: {what} {measured:.2f}{unit} (target <= {target:g}{unit}): {verdict}"
            )
        if o.strategy == "webhook":
            w = o.webhooks
            lines.append(
                f"webhook: every event delivered: {'yes' if o.all_delivered() else 'NO'} "
                f"(sent {w.get('sent', 0)} of {2 * o.created}, failed {w.get('failed', 0)}, "
                f"retried {w.get('retried', 0)}, dropped {w.get('dropped', 0)}, "
                f"gave up {w.get('gave_up', 0)})"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--spread", type=float, default=600.0, help="simulated seconds")
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--poll-rate", type=float, default=200.0, help="per simulated second")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # skipped runs are counted here
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies: {', '.join(unknown)} (known: {', '.join(STRATEGIES)})")
    setup = Setup(
        args.jobs, args.spread, args.time_scale, args.poll_rate, args.seed, args.postgres_url
    )
    print(
        f"{setup.jobs} jobs over {setup.spread:g} simulated s, time scale {setup.scale:g} "
        f"(poll interval {POLL_INTERVAL:g} s = {setup.real(POLL_INTERVAL):.3g} real s), "
        f"rate cap {setup.poll_rate:g}/simulated s = {setup.poll_rate / setup.scale:g}/real s, "
        f"inbox drained every {inbox.DRAIN_SECONDS:g} real s, "
        f"database {'PostgreSQL' if setup.postgres_url else 'SQLite'}; "
        f"{platform.python_version()}, {os.cpu_count()} cores",
        flush=True,
    )
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as tmp:
        for strategy in strategies:
            print(f"-- {strategy} ...", flush=True)
            outcome = run_strategy(strategy, setup, Path(tmp))
            outcomes.append(outcome)
            print(
                f"   {outcome.wall:.0f} real s; {outcome.gets} GETs; "
                f"{outcome.mismatches} charge mismatches; webhooks {json.dumps(outcome.webhooks)}"
                f"\n   {json.dumps(outcome.notes)}\n   by clip: {json.dumps(outcome.by_clip)}",
                flush=True,
            )
    print()
    print("settle lag = ledger ended_at - simulator finishes_at, real seconds (simulated);")
    print("GETs/job = simulator project GETs / settled jobs; steady = per-job polls of the jobs")
    print(f"after the first {WARMUP:.0%}")
    print(table(outcomes, setup))
    print()
    print(summary(outcomes, setup))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "setup": vars(setup),
                    "outcomes": [
                        {
                            "strategy": o.strategy,
                            "created": o.created,
                            "settled": o.settled,
                            "mismatches": o.mismatches,
                            "gets": o.gets,
                            "gets_per_job": o.gets_per_job,
                            "lag_real_s": {
                                "p50": o.p(0.5),
                                "p95": o.p(0.95),
                                "p99": o.p(0.99),
                                "steady_p95": o.p(0.95, True),
                            },
                            "targets": [
                                {"what": w, "measured": m, "target": t, "met": ok}
                                for w, m, t, ok in verdicts(o, setup)
                            ],
                            "webhooks": o.webhooks,
                            "wall": o.wall,
                            "notes": o.notes,
                            "by_clip": o.by_clip,
                        }
                        for o in outcomes
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How ledger settles jobs after they finish upstream, measured side by side in one run.

    python bench/reconcile_bench.py [--jobs 10000] [--spread 600] [--time-scale 0.2]
                                    [--strategies naive,poll,webhook] [--poll-rate 200]
                                    [--postgres-url URL] [--json PATH]

For each strategy, in turn, against a fresh `ledger simulator` (2 gunicorn workers, a subprocess)
and a fresh ledger database (SQLite file, or a PostgreSQL database created and dropped here):

- ``naive``: a loop in this script that GETs every open job every poll interval, settles what it
  finds terminal (one transaction each), and sleeps out the rest of the interval;
- ``poll``: ledger's :class:`~ledger.reconcile.Reconciler`, swept by APScheduler exactly as
  ``ledger worker`` does (every poll interval, ``max_instances=1``, coalesced);
- ``webhook``: the same, plus the ledger Flask app (``ledger.web.create_app``, served from a
  thread of this process with ``LEDGER_WEBHOOK_SECRET`` set) receiving the simulator's webhooks at
  ``POST /webhooks/magic-hour``; its webhook polls go through the same Reconciler object;
- ``poll+fix`` and ``webhook+fix``: the same with the changes proposed for ledger/reconcile.py,
  prototyped in bench/reconcile_fixes.py (nothing under ledger/ is changed).

Jobs are image-to-video with model ``ltx-2.5`` (clips of 1-60 s, uniformly drawn), created on the
simulator directly at a steady rate over ``--spread`` simulated seconds, then held and recorded in
the ledger as the proxy leaves them (``accounting.reserve``, upstream id, status ``submitted``,
``submitted_at``, ``clip_seconds``; ``next_poll_at`` left NULL so the Reconciler schedules the
first poll). Simulator render time = (queue 2 s + 3 s + 1.6 s x clip) x (1 +/- 0.2): 5-121 s.

Everything time-like is scaled by ``--time-scale`` (simulated seconds x scale = real seconds):
the poll interval (5 s simulated), the claim lease (2 min simulated), the upstream rate cap
(``--poll-rate`` requests per simulated second) and the Reconciler's priors, which are real
seconds in ledger/reconcile.py: the bench passes a ``timings`` dict pre-filled with
``PRIOR_BASE_SECONDS["video"]`` and ``PRIOR_SECONDS_PER_CLIP_SECOND`` times the scale.

Measured per strategy: upstream project GETs (the simulator's counter) per settled job, and the
delay from the simulator job's ``finishes_at`` to the ledger job's ``ended_at``, in simulated
seconds (real seconds in brackets). Every process started here is stopped at the end, whatever
happens; every wait is bounded.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reconcile_fixes import FixedReconciler, drop_started_webhooks

from ledger import accounting, db, teams
from ledger.config import load_settings
from ledger.db import Database
from ledger.errors import HoldEnded
from ledger.models import Job, utcnow
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
STRATEGIES = ("naive", "poll", "webhook", "poll+fix", "webhook+fix")
TARGETS = {"poll": (3.0, 2 * POLL_INTERVAL), "webhook": (1.5, 2.0)}
WARMUP = 0.2  # the first 20 % of jobs are left out of the steady-state figures


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
    delays: list[float] = field(default_factory=list)  # simulated seconds, every settled job
    steady_delays: list[float] = field(default_factory=list)
    steady_polls: list[int] = field(default_factory=list)
    polls: dict[str, int] | None = None  # ledger job id -> GETs, when the ledger does not count
    webhook_arrivals: dict[str, tuple[float, float]] | None = None  # upstream id -> (at, took)
    by_clip: dict[str, dict[str, float]] = field(default_factory=dict)
    wall: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def gets_per_job(self) -> float:
        return self.gets / self.settled if self.settled else float("nan")

    def p(self, q: float, steady: bool = False) -> float:
        values = self.steady_delays if steady else self.delays
        return quantile(values, q)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# -- databases --------------------------------------------------------------------------------


@contextmanager
def fresh_database(setup: Setup, workdir: Path, name: str) -> Iterator[Database]:
    """A migrated, empty ledger database: a SQLite file, or a PostgreSQL database dropped after."""
    if setup.postgres_url is None:
        url = f"sqlite:///{workdir / (name.replace('+', '_') + '.db')}"
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
        self.setup, self.simulator, self.database, self.team_id = (
            setup,
            simulator,
            database,
            team_id,
        )
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
                time.sleep(max(0.005, next_at - time.monotonic()))

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

    def add(self, jobs: list[tuple[str, str]]) -> None:
        with self.lock:
            self.open.update(jobs)

    def _get(self, item: tuple[str, str]) -> None:
        job_id, upstream_id = item
        http = getattr(self.local, "http", None)
        if http is None:
            http = self.local.http = httpx.Client(base_url=self.simulator, timeout=30)
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
        from concurrent.futures import ThreadPoolExecutor

        interval = self.setup.real(POLL_INTERVAL)
        with ThreadPoolExecutor(16, thread_name_prefix="naive-get") as pool:
            while not self.stop.is_set():
                start = time.monotonic()
                self.ticks.append(start)
                with self.lock:
                    items = list(self.open.items())
                list(pool.map(self._get, items))
                self.stop.wait(max(0.0, start + interval - time.monotonic()))


def scaled_reconciler(
    setup: Setup, database: Database, simulator: str, cls: type[Reconciler] = Reconciler
) -> Reconciler:
    """The Reconciler with every time-like setting scaled from simulated to real seconds."""
    s = setup.scale
    timings = {ENDPOINT: Timing(PRIOR_BASE_SECONDS["video"] * s, PRIOR_SECONDS_PER_CLIP_SECOND * s)}
    return cls(
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

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES

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


def record_webhooks(
    wsgi: Callable[..., Any], arrivals: dict[str, tuple[float, float]]
) -> Callable[..., Any]:
    """WSGI wrapper: when each end-of-job webhook arrived, and how long the ledger took on it."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        arrived = time.time()
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = json.loads(raw)
            event, project = body.get("type", ""), body.get("payload", {}).get("id")
        except (ValueError, AttributeError):
            event, project = "", None
        try:
            return list(wsgi(environ, start_response))
        finally:
            if project and not str(event).endswith(".started"):
                arrivals[project] = (arrived, time.time() - arrived)

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
        args += [
            "--webhook-url",
            webhook_url,
            "--webhook-header",
            f"X-Ledger-Webhook-Secret: {SECRET}",
        ]
    return args


def open_count(database: Database) -> int:
    from sqlalchemy import func

    with database.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(Job).where(Job.ended_at.is_(None))) or 0
        )


def run_strategy(strategy: str, setup: Setup, workdir: Path) -> Outcome:
    outcome = Outcome(strategy)
    fixed = strategy.endswith("+fix")
    webhooks = strategy.startswith("webhook")
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
            cls = FixedReconciler if fixed else Reconciler
            reconciler = scaled_reconciler(setup, database, simulator.url, cls)
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
                services = services_of(app)
                services.reconciler = reconciler  # webhooks and sweeps share one Reconciler
                stack.callback(services.upstream.close)
                wsgi = drop_started_webhooks(app.wsgi_app) if fixed else app.wsgi_app
                outcome.webhook_arrivals = {}
                app.wsgi_app = record_webhooks(wsgi, outcome.webhook_arrivals)  # type: ignore[method-assign]
                stack.enter_context(serving(app, ledger_port))
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
            ticks = naive.ticks
            outcome.polls = naive.gets
            if len(ticks) > 1:
                gaps = [b - a for a, b in itertools.pairwise(ticks)]
                outcome.notes["naive_round_mean_sim_s"] = round(
                    statistics.fmean(gaps) / setup.scale, 2
                )
                outcome.notes["naive_round_max_sim_s"] = round(max(gaps) / setup.scale, 2)
        state = simulator.state()
        truth = {job["id"]: job for job in simulator.jobs()}
        outcome.gets = int(state["counters"].get(GETS, 0))
        outcome.notes["webhooks"] = {
            k.split(":", 1)[1]: v for k, v in state["counters"].items() if k.startswith("webhook:")
        }
        collect(outcome, setup, database, truth, creator)
        if strategy != "naive":
            timing = reconciler.timings.get(ENDPOINT)
            if timing is not None:
                outcome.notes["learned_base_sim_s"] = round(timing.base / setup.scale, 1)
                outcome.notes["learned_per_clip_s"] = round(timing.per_clip_second / setup.scale, 2)
            factors = getattr(reconciler, "factors", None)
            if factors:
                outcome.notes["fix_factors_by_clip_bucket"] = {
                    f"{2**b}-{2 ** (b + 1) - 1}s": round(f, 2)
                    for (_, b), f in sorted(factors.items())
                }
    return outcome


def collect(
    outcome: Outcome,
    setup: Setup,
    database: Database,
    truth: dict[str, dict[str, Any]],
    creator: Creator,
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
    mismatched = 0
    lags, handling = [], []
    for job_id, upstream_id, ended_at, polls, clip, charged in rows:
        if outcome.polls is not None:
            polls = outcome.polls.get(job_id, 0)
        if ended_at is None:
            continue
        outcome.settled += 1
        job = truth[upstream_id]
        if charged != job["final_credits_charged"]:
            mismatched += 1
        finished = datetime.fromisoformat(job["finishes_at"].replace("Z", "+00:00"))
        ended = ended_at if ended_at.tzinfo else ended_at.replace(tzinfo=UTC)
        delay = (ended - finished).total_seconds() / setup.scale
        outcome.delays.append(delay)
        if outcome.webhook_arrivals and upstream_id in outcome.webhook_arrivals:
            at, took = outcome.webhook_arrivals[upstream_id]
            lags.append((at - finished.timestamp()) / setup.scale)
            handling.append(took)
        if order[upstream_id] >= warm:
            outcome.steady_delays.append(delay)
            outcome.steady_polls.append(polls or 0)
        label = f"{int((clip - 1) // 15) * 15 + 1}-{int((clip - 1) // 15) * 15 + 15}s"
        buckets.setdefault(label, []).append((delay, polls or 0))
    outcome.notes["charge_mismatches"] = mismatched
    if lags:
        outcome.notes["end_webhooks_received"] = len(lags)
        outcome.notes["end_webhook_arrival_lag_p50_p95_sim_s"] = [
            round(quantile(lags, 0.5), 2),
            round(quantile(lags, 0.95), 2),
        ]
        outcome.notes["webhook_handling_p50_p95_real_ms"] = [
            round(quantile(handling, 0.5) * 1000, 1),
            round(quantile(handling, 0.95) * 1000, 1),
        ]
    outcome.notes["created_on_simulator"] = len(truth)
    outcome.notes["negative_delays"] = sum(1 for d in outcome.delays if d < 0)
    for label in sorted(buckets, key=lambda b: int(b.split("-")[0])):
        items = buckets[label]
        outcome.by_clip[label] = {
            "jobs": len(items),
            "polls_per_job": round(statistics.fmean(p for _, p in items), 2),
            "p95_delay_sim_s": round(quantile([d for d, _ in items], 0.95), 1),
        }


# -- report -----------------------------------------------------------------------------------


def table(outcomes: list[Outcome], setup: Setup) -> str:
    s = setup.scale
    head = (
        f"{'strategy':<12} {'settled':>11} {'GETs/job':>9} {'steady':>7} "
        f"{'p50 delay':>16} {'p95 delay':>16} {'steady p95':>11} {'p99 delay':>16} "
        f"{'target (GETs, p95)':>19} {'met':>4}"
    )
    lines = [head, "-" * len(head)]
    for o in outcomes:
        steady_gets = statistics.fmean(o.steady_polls) if o.steady_polls else float("nan")
        base = o.strategy.split("+")[0]
        target = TARGETS.get(base)
        met = ""
        target_text = "-"
        if target is not None:
            target_text = f"<={target[0]:g}, <={target[1]:g} s"
            ok = o.gets_per_job <= target[0] and o.p(0.95) <= target[1]
            ok = ok and o.settled == o.created == setup.jobs
            met = "yes" if ok else "NO"

        def cell(v: float) -> str:
            return f"{v:6.1f} ({v * s:5.2f})"

        settled = f"{o.settled}/{setup.jobs}"
        lines.append(
            f"{o.strategy:<12} {settled:>11} {o.gets_per_job:>9.2f} {steady_gets:>7.2f} "
            f"{cell(o.p(0.5)):>16} "
            f"{cell(o.p(0.95)):>16} {o.p(0.95, True):>11.1f} {cell(o.p(0.99)):>16} "
            f"{target_text:>19} {met:>4}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=600.0, help="simulated seconds")
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--poll-rate", type=float, default=200.0, help="per simulated second")
    parser.add_argument("--strategies", default="naive,poll,webhook")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
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
                f"{json.dumps(outcome.notes)}\n   by clip: {json.dumps(outcome.by_clip)}",
                flush=True,
            )
    print()
    print("delays in simulated seconds (real seconds); GETs/job = simulator GETs / settled jobs;")
    print(f"steady = jobs after the first {WARMUP:.0%} (GETs from the ledger's per-job poll count)")
    print(table(outcomes, setup))
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
                            "gets": o.gets,
                            "gets_per_job": o.gets_per_job,
                            "p50": o.p(0.5),
                            "p95": o.p(0.95),
                            "p99": o.p(0.99),
                            "steady_p95": o.p(0.95, True),
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

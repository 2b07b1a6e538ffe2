"""The reckoning after a load: the ledger's books against what the simulator really did.

:func:`reckon` raises AssertionError on the first breach of:

- no job is left ``reserved`` or ``submitted``: every hold has ended, or its job is ``unknown``;
- every hold ended at most once (and each ended hold ended exactly once);
- every project the simulator created is in the ledger exactly once: as the settled job that
  recorded its id, charged what upstream finally charged, or (when ledger never heard back) as
  the ``unknown`` job of the same request, still holding at least what upstream charged; no job
  names a project upstream never made;
- what each caller was answered agrees with its job (2xx: settled; 402: no job; 502: released;
  504: unknown; an upstream refusal passed on: released; 503: ledger's JSON error);
- every team's held + spent stays within its budget, and equals what its jobs hold and spent;
- ``ledger audit`` exits 0;
- unknown jobs keep their holds 23 h later and are released, flagged, 24 h later; then the
  audit passes again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from ledger import accounting, teams
from ledger.config import load_settings
from ledger.db import Database
from ledger.models import ENDING_KINDS, Entry, Job, JobStatus, utcnow
from ledger.reconcile import Reconciler
from ledger.scheduler import make_reconciler
from ledger.simulator.testing import SimulatorHandle
from tests.support.load import Load
from tests.support.service import UPSTREAM_TOKEN

TERMINAL = ("complete", "error", "canceled")


@dataclass
class Reckoning:
    """What was checked, and the figures of the books next to the simulator's."""

    checked: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)


def reckon(
    database_url: str,
    simulator: SimulatorHandle,
    load: Load,
    budgets: dict[str, int],
    *,
    catch_up: bool,
    result: Reckoning,
) -> None:
    """Check the books after ``load``, with ledger stopped and the simulator's jobs finished;
    ``result`` collects what was checked and the figures (also when a check fails).

    With ``catch_up``, first run one reconciliation sweep as the worker will three minutes from
    now: claims of a killed worker have come due again, and jobs a killed server left
    ``reserved`` have become ``unknown``. Without it, the live worker must have done it all.
    """
    database = Database(database_url)
    try:
        if catch_up:
            reconciler = later_reconciler(database, simulator)
            try:
                report = reconciler.sweep(now=utcnow() + timedelta(minutes=3))
            finally:
                reconciler.upstream.close()
            result.figures["caught up 3 min later: settled"] = report.settled
            result.figures["caught up 3 min later: reserved -> unknown"] = report.became_unknown
        books = Books.read(database, simulator, budgets)
        books.check_holds(result)
        books.check_projects(simulator, result)
        books.check_answers(load, result)
        books.check_budgets(result)
        run_audit(database_url, result)
        check_unknown_timers(database, simulator, budgets, result)
        run_audit(database_url, result)
    finally:
        database.dispose()


def later_reconciler(database: Database, simulator: SimulatorHandle) -> Reconciler:
    """The reconciler ``ledger worker`` runs, made here so that its steps can be run with the
    clock moved on."""
    settings = load_settings(
        {},
        database_url=database.url.render_as_string(hide_password=False),
        upstream_url=simulator.url,
        magic_hour_api_key=UPSTREAM_TOKEN,
        upstream_timeout=1.0,
        poll_rate=500.0,
    )
    return make_reconciler(settings, database)


@dataclass
class Books:
    """The ledger's jobs, hold endings and balances, and the simulator's projects."""

    projects: dict[str, dict[str, Any]]
    jobs: list[Job]
    endings: list[tuple[str, str, int]]  # (job id, ending kind, entries)
    balances: dict[str, accounting.BalanceView]
    team_ids: dict[str, int]
    budgets: dict[str, int]

    @classmethod
    def read(cls, database: Database, simulator: SimulatorHandle, budgets: dict[str, int]) -> Books:
        projects = {project["id"]: project for project in simulator.jobs()}
        assert all(p["status"] in TERMINAL for p in projects.values()), "renders unfinished"
        with database.read() as session:
            jobs = list(session.scalars(select(Job)))
            endings = session.execute(
                select(Entry.job_id, Entry.kind, func.count())
                .where(Entry.kind.in_([kind.value for kind in ENDING_KINDS]))
                .group_by(Entry.job_id, Entry.kind)
            ).all()
            found = {slug: teams.get_team(session, slug) for slug in budgets}
            balances = {slug: accounting.balance_of(session, t) for slug, t in found.items()}
        return cls(
            projects,
            jobs,
            [(str(job_id), kind, n) for job_id, kind, n in endings],
            balances,
            {slug: team.id for slug, team in found.items()},
            budgets,
        )

    def __post_init__(self) -> None:
        self.by_request: dict[str, Job] = {}
        for job in self.jobs:
            request = job.tags.get("req")
            assert request is not None, f"job {job.id} has no req tag"
            assert request not in self.by_request, f"request {request} has two jobs"
            self.by_request[request] = job
        self.by_upstream = {job.upstream_id: job for job in self.jobs if job.upstream_id}
        self.statuses = Counter(job.status for job in self.jobs)

    def check_holds(self, result: Reckoning) -> None:
        """No hold is open except an unknown job's; each ended once (a settlement posts at most
        one entry of each ending kind: settle, return, overrun)."""
        statuses = self.statuses
        assert statuses[JobStatus.RESERVED] == 0, f"jobs still reserved: {statuses}"
        assert statuses[JobStatus.SUBMITTED] == 0, f"jobs still submitted: {statuses}"
        assert set(statuses) <= {JobStatus.SETTLED, JobStatus.RELEASED, JobStatus.UNKNOWN}
        twice = [(job_id, kind) for job_id, kind, n in self.endings if n > 1]
        assert not twice, f"holds ended more than once: {twice}"
        ended = {job_id for job_id, _, _ in self.endings}
        for job in self.jobs:
            assert (job.id in ended) == (job.status != JobStatus.UNKNOWN), (job.id, job.status)
        result.checked.append("no hold open but unknown jobs'; every other ended exactly once")
        result.figures.update(
            {
                "ledger jobs": len(self.jobs),
                "settled": statuses[JobStatus.SETTLED],
                "released": statuses[JobStatus.RELEASED],
                "unknown": statuses[JobStatus.UNKNOWN],
            }
        )

    def check_projects(self, simulator: SimulatorHandle, result: Reckoning) -> None:
        """Every upstream project in the ledger exactly once, charged or held what it cost."""
        lost = double = unknown_with_project = 0
        with httpx.Client(
            base_url=simulator.url,
            headers={"Authorization": f"Bearer {UPSTREAM_TOKEN}"},
            timeout=10,
        ) as http:
            for project_id, project in self.projects.items():
                final = int(project["final_credits_charged"])
                recorded = self.by_upstream.get(project_id)
                if recorded is not None:
                    assert recorded.status == JobStatus.SETTLED, (recorded.id, recorded.status)
                    charged = recorded.charged_credits or 0
                    lost += max(0, final - charged)
                    double += max(0, charged - final)
                    continue
                # Ledger never learned this project's id: find its job by the request's name.
                name = http.get(f"/v1/video-projects/{project_id}").json()["name"]
                job = self.by_request.get(name)
                assert job is not None, f"project {project_id} ({name}) is not in the ledger"
                assert job.upstream_id is None and job.status == JobStatus.UNKNOWN, (
                    f"project {project_id} ({name}) belongs to job {job.id} ({job.status})"
                )
                unknown_with_project += 1
                lost += max(0, final - job.held_credits)
        phantoms = [j.id for j in self.jobs if j.upstream_id and j.upstream_id not in self.projects]
        assert not phantoms, f"jobs naming projects upstream never made: {phantoms}"
        assert lost == 0, f"{lost} credits charged upstream are neither spent nor held"
        assert double == 0, f"{double} credits charged beyond what upstream charged"
        result.checked.append("every upstream project in the ledger once, charged what it cost")
        result.figures.update(
            {
                "upstream projects": len(self.projects),
                "unknown jobs with an upstream project": unknown_with_project,
                "credits lost": lost,
                "credits double counted": double,
            }
        )

    def check_answers(self, load: Load, result: Reckoning) -> None:
        """What each caller was answered agrees with its job."""
        for outcome in load.outcomes:
            job = self.by_request.get(outcome.request)
            if outcome.warning:  # upstream answered; ledger could not record it: held, unknown
                assert job is not None and job.status == JobStatus.UNKNOWN, (outcome, job)
            elif outcome.status is not None and 200 <= outcome.status < 300:
                assert job is not None and job.id == outcome.job_id, outcome
                assert job.status == JobStatus.SETTLED and job.upstream_id, (outcome, job)
            elif outcome.status == 402:
                assert job is None and outcome.code == "budget_exceeded", outcome
            elif outcome.status in (502, 504):
                assert outcome.ledger_error and job is not None and job.id == outcome.job_id
                expected = JobStatus.RELEASED if outcome.status == 502 else JobStatus.UNKNOWN
                assert job.status == expected, (outcome, job.status)
            elif outcome.status == 503:
                assert outcome.ledger_error and outcome.code == "unavailable", outcome
            elif outcome.status is not None:  # upstream's refusal, passed on: hold released
                assert job is not None and job.status == JobStatus.RELEASED, (outcome, job)
        result.checked.append("each answer agrees with its job: 2xx settled, 402 none, 504 unknown")

    def check_budgets(self, result: Reckoning) -> None:
        """held + spent within the budget; held and spent are what the jobs hold and spent."""
        for slug, budget in self.budgets.items():
            balance = self.balances[slug]
            own = [job for job in self.jobs if job.team_id == self.team_ids[slug]]
            assert balance.held + balance.spent <= budget, (slug, balance)
            assert balance.held == sum(j.held_credits for j in own if j.status == "unknown")
            assert balance.spent == sum(j.charged_credits or 0 for j in own if j.charged_credits)
            result.figures[f"{slug}: budget / spent / held by unknown jobs"] = (
                f"{budget} / {balance.spent} / {balance.held}"
            )
        result.checked.append("held + spent <= budget for every team")


def check_unknown_timers(
    database: Database, simulator: SimulatorHandle, budgets: dict[str, int], result: Reckoning
) -> None:
    """Unknown jobs keep their hold for LEDGER_UNKNOWN_HOLD_HOURS (24), then are released and
    flagged: the reconciler's expiry run 23 h from now releases nothing, 24 h from now all."""
    with database.read() as session:
        unknown = set(session.scalars(select(Job.id).where(Job.status == JobStatus.UNKNOWN.value)))
    reconciler = later_reconciler(database, simulator)
    try:
        early = reconciler.expire_unknown(utcnow() + timedelta(hours=23))
        assert early == 0, f"{early} unknown holds released before their 24 h"
        expired = sum(
            reconciler.expire_unknown(utcnow() + timedelta(hours=24, minutes=5))
            for _ in range(1 + len(unknown) // reconciler.batch)
        )
    finally:
        reconciler.upstream.close()
    assert expired == len(unknown)
    with database.read() as session:
        if unknown:
            flags = Counter(session.scalars(select(Job.flag).where(Job.id.in_(unknown))))
            assert flags == Counter({"unknown_expired": len(unknown)}), flags
        for slug in budgets:
            assert accounting.balance_of(session, teams.get_team(session, slug)).held == 0
    result.checked.append(f"{len(unknown)} unknown holds kept at 23 h, released at 24 h")


def run_audit(database_url: str, result: Reckoning) -> None:
    """``ledger audit`` as a user runs it; it also looks for the upstream token in the data."""
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "audit"],
        env={
            **os.environ,
            "LEDGER_DATABASE_URL": database_url,
            "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"ledger audit failed:\n{done.stdout}{done.stderr}"
    result.checked.append("`ledger audit` exits 0")


def show(title: str, sections: dict[str, Any]) -> None:
    """Print a summary of what a scenario injected and what it checked into the test's captured
    output: pytest shows it when the test fails (and always with ``-s``), so a passing run
    stays quiet."""
    print(summary(title, sections), flush=True)


def summary(title: str, sections: dict[str, Any]) -> str:
    """A small plain-text table: one block per section, ``name  value`` lines."""
    lines = [f"\n== {title}"]
    for section, values in sections.items():
        lines.append(f"-- {section}")
        if isinstance(values, dict):
            width = max((len(str(k)) for k in values), default=0)
            lines += [f"   {k!s:<{width}}  {v}" for k, v in values.items()]
        else:
            lines += [f"   {v}" for v in values]
    return "\n".join(lines)

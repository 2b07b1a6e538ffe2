"""A stateful property test: random sequences of ledger operations, against a plain model.

After every step every balance of the team (every period it has touched) must equal the model's,
and a refused operation must leave the ledger exactly as it was.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)
from sqlalchemy import func, select

from ledger import accounting, audit, teams
from ledger.db import Database
from ledger.errors import BudgetExceeded, HoldEnded
from ledger.models import Balance, Entry, Job, Team
from ledger.periods import period_bounds

START = datetime(2026, 1, 30, 9, 0, tzinfo=UTC)
PERIODS = ["none", "day", "week", "month"]
_slugs = (f"team-{n}" for n in itertools.count())


@dataclass
class ModelBalance:
    budget: int = 0
    adjustments: int = 0
    held: int = 0
    spent: int = 0

    @property
    def available(self) -> int:
        return self.budget + self.adjustments - self.spent - self.held


@dataclass
class ModelJob:
    period_key: tuple[str, datetime]
    held: int


@dataclass
class Model:
    budget: int
    period: str
    balances: dict[tuple[str, datetime], ModelBalance] = field(default_factory=dict)
    jobs: dict[str, ModelJob] = field(default_factory=dict)

    def current(self, now: datetime) -> tuple[str, datetime]:
        """The current period's key; its balance is opened (with the budget) when first used."""
        key = self.peek(now)
        if key not in self.balances:
            self.balances[key] = ModelBalance(budget=self.budget)
        return key

    def peek(self, now: datetime) -> tuple[str, datetime]:
        return (self.period, period_bounds(self.period, now)[0])

    def available(self, now: datetime) -> int:
        return self.balances.get(self.peek(now), ModelBalance(budget=self.budget)).available

    def sync_budget(self, now: datetime) -> None:
        self.balances[self.current(now)].budget = self.budget


def machine_for(database: Database) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        jobs = Bundle("jobs")

        @initialize(budget=st.integers(0, 2_000), period=st.sampled_from(PERIODS))
        def create_team(self, budget: int, period: str) -> None:
            self.now = START
            self.slug = next(_slugs)
            with database.write() as session:
                self.team_id = teams.create_team(
                    session, self.slug, budget_credits=budget, period=period, now=self.now
                ).id
            self.model = Model(budget=budget, period=period)
            self.model.sync_budget(self.now)

        # -- operations ---------------------------------------------------------------------

        @rule(target=jobs, credits=st.integers(0, 900))
        def reserve(self, credits: int):  # type: ignore[no-untyped-def]
            available = self.model.available(self.now)
            fits = credits <= available
            before = self._snapshot()
            try:
                with database.write() as session:
                    job = accounting.reserve(
                        session,
                        self.team_id,
                        credits,
                        endpoint="image-to-video",
                        kind="video",
                        now=self.now,
                    )
            except BudgetExceeded as refused:
                assert not fits, f"{credits} should fit in {available}"
                assert refused.details["available_credits"] == available
                assert self._snapshot() == before  # a refused hold changes nothing
                return multiple()
            assert fits, f"{credits} accepted with only {available} available"
            key = self.model.current(self.now)
            self.model.balances[key].held += credits
            self.model.jobs[job.id] = ModelJob(key, credits)
            return job.id

        @rule(job_id=jobs, credits=st.integers(0, 900))
        def adjust_hold(self, job_id: str, credits: int) -> None:
            job = self.model.jobs[job_id]
            with database.write() as session:
                accounting.adjust_hold(session, job_id, credits, now=self.now)
            self.model.balances[job.period_key].held += credits - job.held
            job.held = credits

        @rule(job_id=consumes(jobs), charged=st.integers(0, 1_000))
        def settle(self, job_id: str, charged: int) -> None:
            job = self.model.jobs.pop(job_id)
            with database.write() as session:
                accounting.settle(session, job_id, charged, now=self.now)
            balance = self.model.balances[job.period_key]
            balance.held -= job.held
            balance.spent += charged

        @rule(job_id=consumes(jobs))
        def release(self, job_id: str) -> None:
            job = self.model.jobs.pop(job_id)
            with database.write() as session:
                accounting.release(session, job_id, now=self.now)
            self.model.balances[job.period_key].held -= job.held

        @rule(credits=st.integers(-500, 500).filter(bool))
        def adjust(self, credits: int) -> None:
            with database.write() as session:
                team = session.get(Team, self.team_id)
                accounting.adjust(session, team, credits, "property test", now=self.now)
            self.model.balances[self.model.current(self.now)].adjustments += credits

        @rule(budget=st.integers(0, 2_000))
        def change_budget(self, budget: int) -> None:
            with database.write() as session:
                teams.update_team(session, self.slug, budget_credits=budget, now=self.now)
            self.model.budget = budget
            self.model.sync_budget(self.now)

        @rule(period=st.sampled_from(PERIODS))
        def change_period(self, period: str) -> None:
            with database.write() as session:
                teams.update_team(session, self.slug, period=period, now=self.now)
            self.model.period = period
            self.model.sync_budget(self.now)

        @rule(hours=st.integers(1, 24 * 40))
        def time_passes(self, hours: int) -> None:
            self.now += timedelta(hours=hours)

        @rule()
        def ending_twice_is_refused(self) -> None:
            with database.read() as session:
                ended = session.scalars(
                    select(Job.id)
                    .where(
                        Job.team_id == self.team_id,
                        Job.ended_at.is_not(None),
                    )
                    .limit(1)
                ).first()
            if ended is None:
                return
            before = self._snapshot()
            with pytest.raises(HoldEnded), database.write() as session:
                accounting.release(session, ended, now=self.now)
            assert self._snapshot() == before

        # -- checks -------------------------------------------------------------------------

        @invariant()
        def balances_match_the_model(self) -> None:
            if not hasattr(self, "model"):
                return
            with database.read() as session:
                rows = session.scalars(select(Balance).where(Balance.team_id == self.team_id))
                actual = {
                    (b.period, b.period_start): (b.budget, b.adjustments, b.held, b.spent)
                    for b in rows
                }
                team = session.get(Team, self.team_id)
                view = accounting.balance_of(session, team, now=self.now)
            expected = {
                key: (b.budget, b.adjustments, b.held, b.spent)
                for key, b in self.model.balances.items()
            }
            assert actual == expected
            assert view.available == self.model.available(self.now)

        def teardown(self) -> None:
            if hasattr(self, "model"):
                with database.read() as session:
                    report = audit.run(session)
                assert report.violations == []

        def _snapshot(self) -> tuple:
            with database.read() as session:
                return (
                    session.execute(
                        select(
                            Balance.id,
                            Balance.budget,
                            Balance.adjustments,
                            Balance.held,
                            Balance.spent,
                        ).order_by(Balance.id)
                    ).all(),
                    session.scalar(select(func.count()).select_from(Entry)),
                )

    return LedgerMachine


def test_random_operation_sequences_match_the_model(database: Database) -> None:
    machine = machine_for(database)
    machine.TestCase.settings = settings(
        max_examples=100,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        # No shrinking: against a database it can outlast the test timeout, and the failing
        # sequences are short enough to read as they are.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    machine.TestCase().runTest()

"""Crashes under load: `ledger serve` (the gunicorn master and its workers at once) and `ledger
worker` are SIGKILLed at random moments, several times each, and started again while the clients
go on, with the simulator injecting faults as in the load test.

A create in flight when its server dies may have reached upstream or not: its job stays
``reserved`` with its hold, becomes ``unknown`` two minutes after the upstream timeout, and keeps
the hold until its timer runs out. Claims of a killed worker come due again when their lease ends.
The test checks the books after moving the reconciler's clock past both (see
:func:`tests.support.load.reckon`); the seed of the random moments is printed.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.db import Database
from tests.support.load import (
    ESTIMATE,
    FAULTS,
    Deployment,
    Load,
    claimed_jobs,
    deployment,
    make_team,
    wait_for_settlement,
)
from tests.support.reckon import Reckoning, reckon, show


@dataclass(frozen=True)
class Plan:
    instances: int
    clients: int
    creates: int
    server_kills: int
    worker_kills: int
    pace: float  # seconds each client waits between creates, so the load outlasts the kills


PLANS = {
    # PostgreSQL: two instances share the load, so one is always up.
    "postgresql": Plan(
        instances=2, clients=64, creates=3_000, server_kills=3, worker_kills=3, pace=0.35
    ),
    # SQLite: one instance (one file, one host); clients wait for it to come back.
    "sqlite": Plan(instances=1, clients=16, creates=900, server_kills=3, worker_kills=2, pace=0.3),
}


def budgets_for(creates: int) -> dict[str, int]:
    """Half the creates per team: the tight one can pay for a quarter, the other for 3/4."""
    return {"tight": creates // 2 // 4 * ESTIMATE, "roomy": creates // 2 * 3 // 4 * ESTIMATE}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_killed_servers_and_workers_lose_nothing(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    plan = PLANS[backend]
    seed = random.randrange(1_000_000)
    budgets = budgets_for(plan.creates)
    keys = [(slug, make_team(database_url, slug, budget)) for slug, budget in budgets.items()]
    database = Database(database_url)
    with (
        # Polls at 100/s: the worker is busy with claims most of the time, so that it can be
        # killed between "claimed" and "charged".
        deployment(
            database_url, tmp_path, instances=plan.instances, LEDGER_POLL_RATE="100"
        ) as deployed,
        ThreadPoolExecutor(2, thread_name_prefix="killer") as killers,
    ):
        deployed.simulator.set_faults(**FAULTS)
        load = Load(
            deployed.urls, keys, total=plan.creates, clients=plan.clients, pace=plan.pace
        ).start()
        servers = killers.submit(kill_servers, deployed, load, plan, random.Random(seed))
        worker = killers.submit(kill_worker, deployed, database, load, plan, random.Random(~seed))
        crashes = servers.result() + worker.result()
        load.join(timeout=180)
        deployed.simulator.clear_faults()
        injected = deployed.injected_faults()
        kills = {
            "ledger serve": sum(i.kills for i in deployed.instances),
            "ledger worker": deployed.worker.kills,
        }
        outcomes = load.counts()
        show(
            f"crashes under load on {backend} (seed {seed})",
            {
                "load": {
                    "instances": plan.instances,
                    "clients": plan.clients,
                    "creates": load.sent,
                    "seconds": round(load.duration, 1),
                    "connect retries": load.connect_retries,
                },
                "crashes (SIGKILL, then restart)": crashes,
                "faults injected (as the simulator counted them)": injected,
                "answers": dict(sorted(outcomes.items())),
            },
        )
        deployed.simulator.wait_until_settled(timeout=30)
        left = wait_for_settlement(database_url, timeout=60, stalled=8)
        deployed.stop_ledger()
        reckoning = Reckoning(figures={"left to a lease by killed workers": left})
        try:
            reckon(database_url, deployed.simulator, load, budgets, catch_up=True, result=reckoning)
        finally:
            show(f"crashes under load on {backend}: the books", vars(reckoning))
    database.dispose()

    assert kills == {"ledger serve": plan.server_kills, "ledger worker": plan.worker_kills}
    assert load.sent == plan.creates
    assert outcomes["unreachable"] == 0, "some creates never reached a restarted instance"
    assert outcomes["200"] > plan.creates // 4 and outcomes["402"] > plan.creates // 5


def moments(count: int, rng: random.Random) -> list[float]:
    """Shares of the load after which to kill: one at random in each of ``count`` slots
    spread over the first 70 %, so that a restart is over before the next kill."""
    return [rng.uniform(0.05, 0.2) + 0.25 * slot for slot in range(count)]


def wait_for_share(load: Load, share: float) -> str:
    while load.sent < share * load.total:
        time.sleep(0.005)
    assert load.sent < load.total, "the load ended before the kill"
    return f"after {load.sent} creates"


def kill_servers(deployed: Deployment, load: Load, plan: Plan, rng: random.Random) -> list[str]:
    """SIGKILL an instance (its gunicorn master and workers at once), then start it again."""
    done = []
    for share in moments(plan.server_kills, rng):
        at = wait_for_share(load, share)
        index = rng.randrange(len(deployed.instances))
        instance = deployed.instances[index]
        instance.kill()
        down = time.monotonic()
        instance.start()
        done.append(f"ledger serve #{index} killed {at}; ready in {time.monotonic() - down:.1f} s")
    return done


def kill_worker(
    deployed: Deployment, database: Database, load: Load, plan: Plan, rng: random.Random
) -> list[str]:
    """SIGKILL the worker, if it comes within 2 s while it holds claims (between "claimed" and
    "charged"), then start it again."""
    done = []
    for share in moments(plan.worker_kills, rng):
        at = wait_for_share(load, share)
        deadline = time.monotonic() + 2
        while not claimed_jobs(database) and time.monotonic() < deadline:
            time.sleep(0.002)
        deployed.worker.kill()
        claims = claimed_jobs(database)
        time.sleep(rng.uniform(0.0, 0.5))
        deployed.worker.start()
        done.append(f"ledger worker killed {at}, holding {claims} claims")
    return done

"""Load with faults: two `ledger serve` instances on one PostgreSQL database, one `ledger
worker`, the simulator in its own process injecting 429s, 500s, dropped connections, timeouts and
slow answers, and 64 clients sending thousands of creates against tight budgets.

Afterwards no credit is lost or counted twice: see :func:`tests.support.load.reckon`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.load import (
    ESTIMATE,
    FAULTS,
    Load,
    deployment,
    make_team,
    wait_for_settlement,
)
from tests.support.reckon import Reckoning, reckon, show

CLIENTS = 64
CREATES = 2_400
# Half the creates are the tight team's, whose budget covers a quarter of them; the other team
# runs out near the end. Both are refused with 402 a lot.
BUDGETS = {"tight": CREATES // 2 // 4 * ESTIMATE, "roomy": CREATES // 2 * 3 // 4 * ESTIMATE}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_instances_under_load_with_faults_lose_nothing(
    database_url: str, tmp_path: Path
) -> None:
    keys = [(slug, make_team(database_url, slug, budget)) for slug, budget in BUDGETS.items()]
    with deployment(database_url, tmp_path, instances=2) as deployed:
        deployed.simulator.set_faults(**FAULTS)
        load = Load(deployed.urls, keys, total=CREATES, clients=CLIENTS).start()
        load.join(timeout=150)
        deployed.simulator.clear_faults()
        injected = deployed.injected_faults()
        outcomes = load.counts()
        show(
            "load with faults: 2 instances of ledger serve on PostgreSQL, 1 ledger worker",
            {
                "load": {
                    "clients": CLIENTS,
                    "creates": load.sent,
                    "seconds": round(load.duration, 1),
                    "connect retries": load.connect_retries,
                },
                "faults injected (as the simulator counted them)": injected,
                "answers": dict(sorted(outcomes.items())),
            },
        )
        deployed.simulator.wait_until_settled(timeout=30)
        left = wait_for_settlement(database_url, timeout=60)
        assert left == 0, f"the worker left {left} jobs unsettled"
        deployed.stop_ledger()  # the books stand still; the simulator still answers
        reckoning = Reckoning()
        try:
            reckon(
                database_url, deployed.simulator, load, BUDGETS, catch_up=False, result=reckoning
            )
        finally:
            show("load with faults: the books", vars(reckoning))

    assert load.sent == CREATES
    assert outcomes["200"] > CREATES // 4, "most creates were meant to reach upstream"
    assert outcomes["402"] > CREATES // 5, "the budgets were meant to refuse many creates"
    for fault in ("rate_limit", "error", "drop", "timeout", "slow"):
        assert injected.get(fault, 0) > 0, f"no {fault} fault was injected"
    assert outcomes["504"] >= injected["drop"] + injected["timeout"]

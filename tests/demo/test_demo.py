"""`ledger demo --exit` in a fresh directory: the tour runs, and its numbers add up."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_the_demo_tour_passes_and_its_report_matches_the_balances(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "demo", "--exit", "--port", "0", "--simulator-port", "0"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
        capture_output=True,
        text=True,
        timeout=240,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "✗" not in out and "Every step did what it says" in out
    assert "402: seedance-2.5 at 720p, 10 s is 5760 estimated (576 credits/s), 600 available" in out
    assert "a flat 30 credits/s table would have held 300 and let it through" in out
    # Balances table: team budget held spent available
    balances = re.findall(r"^\s+(design|marketing)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)$", out, re.M)
    assert {team for team, *_ in balances} == {"design", "marketing"}
    spent_by_balance = sum(int(spent) for _, _, _, spent, _ in balances)
    # Report: team endpoint jobs held spent released; its total line
    total = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", out, re.M)
    assert total is not None, out
    jobs, held, spent, released = map(int, total.groups())
    assert (jobs, held, spent) == (5, 0, spent_by_balance) and spent > 0 and released > 0

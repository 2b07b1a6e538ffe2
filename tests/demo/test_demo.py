"""`ledger demo --exit` in a fresh directory: the tour runs, and its numbers add up."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest


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
    # Report: team endpoint jobs held spent released usd (the plan's banded price); its total
    total = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+\.\d+)\s*$", out, re.M)
    assert total is not None, out
    jobs, held, spent, released = map(int, total.groups()[:4])
    assert (jobs, held, spent) == (5, 0, spent_by_balance) and spent > 0 and released > 0
    assert float(total.group(5)) > 0


def test_the_dashboard_and_the_admin_token_come_first_and_work_at_once(tmp_path) -> None:
    """Before the minute the tour takes, the demo says where its dashboard is and with which
    token to sign in; both work while the tour runs. Ctrl-C then stops everything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger", "demo", "--port", "0", "--simulator-port", "0"],
        cwd=tmp_path,
        env={**env, "TMPDIR": str(tmp_path)},  # its state directory, removed with tmp_path
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()])
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("  admin token:") for line in seen):
            assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
        out = "".join(seen)
        assert "teams created" not in out, out  # the tour has not begun
        url = re.search(r"^  dashboard:\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
        token = re.search(r"^  admin token: (\S+)", out, re.M).group(1)  # type: ignore[union-attr]
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        teams = httpx.get(f"{url}api/teams", headers={"Authorization": f"Bearer {token}"})
        assert teams.status_code == 200, teams.text
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops its servers
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)

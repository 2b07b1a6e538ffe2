"""PostgreSQL stopped and started again under load: while it is down every create is refused
with 503 and ledger's JSON error, and nothing reaches upstream; once it is back, ledger recovers
by itself (no restart), and the books balance as after any load.

The test runs its own PostgreSQL cluster (initdb in a temporary directory, on a free port), never
the shared server other tests use. Without PostgreSQL's binaries it is skipped with a reason,
except under CI, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from ledger import db
from ledger.db import Database
from ledger.simulator.testing import free_port
from tests.support.load import (
    ESTIMATE,
    Load,
    deployment,
    make_team,
    wait_for_settlement,
)
from tests.support.reckon import Reckoning, reckon, show

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_BIN = Path(os.environ.get("LEDGER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
UPSTREAM_TIMEOUT = 1.0  # ledger_env's LEDGER_UPSTREAM_TIMEOUT
CLIENTS = 16
PACE = 0.1  # seconds between a client's creates: a steady load that outlasts the outage
DOWN_SECONDS = 4.0
BUDGET = 1_000 * ESTIMATE


class PrivateCluster:
    """A PostgreSQL cluster of our own: initdb, pg_ctl start and stop, removed at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/ledger"
        self.stops = 0

    def _run(self, *command: str) -> None:
        # initdb and the server refuse to run as root: be the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}"

    def create(self) -> None:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N"
        )
        self.start()
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE ledger")
        database = Database(self.url)
        try:
            db.upgrade(database)
        finally:
            database.dispose()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.root / "postgres.log"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.stops += 1

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    missing = [name for name in ("initdb", "pg_ctl") if not (PG_BIN / name).is_file()]
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    if missing:
        message = f"no {', '.join(missing)} in {PG_BIN} (set LEDGER_TEST_PG_BIN)"
        if IN_CI:
            pytest.fail(message + "; CI requires a private PostgreSQL for this test", pytrace=False)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivateCluster(root)
    try:
        server.create()
        yield server
    finally:
        server.remove()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout:g} s"
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_creates_fail_closed_while_postgresql_is_down_and_recover_by_themselves(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    key = make_team(cluster.url, "acme", BUDGET)
    with deployment(cluster.url, tmp_path, instances=1) as deployed:
        simulator = deployed.simulator
        [instance] = deployed.instances

        def creates_upstream() -> int:
            counters = simulator.state()["counters"]
            return int(counters.get("POST /v1/image-to-video", 0))

        load = Load(deployed.urls, [("acme", key)], total=100_000, clients=CLIENTS, pace=PACE)
        load.start()
        wait_until(lambda: load.sent >= 200, "creates flowing")

        cluster.stop()
        down = time.monotonic()
        # A create that took its hold just before may still be on its way upstream.
        time.sleep(UPSTREAM_TIMEOUT + 1.0)
        upstream_before = creates_upstream()
        time.sleep(DOWN_SECONDS)
        readyz_down = httpx.get(f"{instance.url}/readyz", timeout=5)
        upstream_after = creates_upstream()
        restarting = time.monotonic()  # (the server accepts a little before pg_ctl returns)
        cluster.start()
        up = time.monotonic()

        recovered = None
        while recovered is None and time.monotonic() - up < 30:
            served = [o for o in load.since(restarting) if o.status in (200, 402)]
            recovered = min((o.ended for o in served), default=None)
            time.sleep(0.05)
        if recovered is not None:
            after_recovery = load.sent
            wait_until(lambda: load.sent >= after_recovery + 300, "300 more creates")
        load.stop()
        load.join(timeout=60)
        # Every worker process answers ready again (each may have pooled a connection before
        # the restart: none of them may say "database unreachable" now).
        readyz_up = Counter(
            httpx.get(f"{instance.url}/readyz", timeout=5).status_code for _ in range(12)
        )

        while_down = [o for o in load.since(down) if o.ended < restarting]
        answers_down = Counter(f"{o.label} {o.code}" for o in while_down)
        show(
            "PostgreSQL stopped (pg_ctl stop -m fast) and started again under load",
            {
                "load": {
                    "instances": 1,
                    "clients": CLIENTS,
                    "creates": load.sent,
                    "seconds": round(load.duration, 1),
                },
                "outage": {
                    "database down for (s)": round(restarting - down, 1),
                    "creates sent while down": len(while_down),
                    "upstream creates while down (after the drain)": upstream_after
                    - upstream_before,
                    "/readyz while down": readyz_down.status_code,
                    "pg_ctl start took (s)": round(up - restarting, 1),
                    "first create served after pg_ctl start (s)": None
                    if recovered is None
                    else round(recovered - restarting, 1),
                    "/readyz after (12 calls)": dict(readyz_up),
                },
                "answers while down": dict(answers_down),
                "answers": dict(sorted(load.counts().items())),
            },
        )
        assert len(while_down) > 50, "the outage was meant to meet many creates"
        assert answers_down == Counter({"503 unavailable": len(while_down)})
        assert all(o.ledger_error for o in while_down)
        assert upstream_after == upstream_before, "a create reached upstream, the database down"
        assert recovered is not None, "creates did not succeed again within 30 s"
        assert readyz_down.status_code == 503 and readyz_up == Counter({200: 12})
        assert load.counts()["200"] > 300

        left = wait_for_settlement(cluster.url, timeout=60, stalled=8)
        deployed.stop_ledger()
        reckoning = Reckoning(figures={"left to the catch-up": left})
        try:
            reckon(cluster.url, simulator, load, {"acme": BUDGET}, catch_up=True, result=reckoning)
        finally:
            show("PostgreSQL restarted under load: the books", vars(reckoning))

"""Budget alerts: thresholds and overruns recorded once per crossing, delivered to a receiver on
loopback as Slack-compatible JSON, surviving a restart without loss or repeat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from flask import Flask, request
from sqlalchemy import select

from ledger import accounting, alerts, teams
from ledger.db import Database
from ledger.models import Alert
from tests.support.service import serving


class Receiver:
    """A Slack-like webhook receiver on loopback that can be told to fail."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.failing = False
        self.app = Flask("receiver")

        @self.app.post("/hook")
        def hook():  # type: ignore[no-untyped-def]
            if self.failing:
                return "unavailable", 503
            self.messages.append(json.loads(request.get_data()))
            return "ok"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hub = Receiver()
    with serving(hub.app) as url:
        yield hub, f"{url}/hook"


def team(database: Database, budget: int, thresholds: list[int]) -> int:
    with database.write() as session:
        return teams.create_team(
            session, "acme", budget_credits=budget, alert_thresholds=thresholds
        ).id


def hold(database: Database, team_id: int, credits: int) -> str:
    with database.write() as session:
        return accounting.reserve(
            session, team_id, credits, endpoint="image-to-video", kind="video"
        ).id


def test_crossing_80_percent_sends_one_alert(database: Database, receiver) -> None:
    hub, url = receiver
    team_id = team(database, 1000, [80])
    hold(database, team_id, 500)
    hold(database, team_id, 290)  # 79 %: not yet
    assert alerts.deliver_due(database, url) == (0, 0)
    hold(database, team_id, 10)  # exactly 80 %
    hold(database, team_id, 100)  # 90 %: the same crossing, no new alert
    assert alerts.deliver_due(database, url) == (1, 0)
    assert alerts.deliver_due(database, url) == (0, 0)
    [message] = hub.messages
    assert "team acme has used 80% of its budget" in message["text"]
    assert message["ledger"]["details"] == {"threshold": 80, "used": 800, "budget": 1000}


def test_a_failing_receiver_gets_the_alert_later(database: Database, receiver) -> None:
    hub, url = receiver
    team_id = team(database, 100, [50, 100])
    hold(database, team_id, 100)  # crosses 50 and 100 at once
    hub.failing = True
    assert alerts.deliver_due(database, url) == (0, 2)
    hub.failing = False
    assert alerts.deliver_due(database, url) == (0, 0)  # backing off
    later = accounting.utcnow() + alerts.BACKOFF_BASE * 2
    assert alerts.deliver_due(database, url, now=later) == (2, 0)
    assert sorted(m["ledger"]["details"]["threshold"] for m in hub.messages) == [50, 100]
    with database.read() as session:
        assert [a.attempts for a in session.scalars(select(Alert))] == [2, 2]


def test_an_alert_survives_a_worker_restart_without_loss_or_repeat(
    database: Database, database_url: str, receiver
) -> None:
    hub, url = receiver
    team_id = team(database, 1000, [80])
    hold(database, team_id, 850)  # the crossing is in the outbox before any worker runs
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_ALERT_WEBHOOK_URL": url,
        "LEDGER_UPSTREAM_URL": "http://127.0.0.1:9",
        "LEDGER_POLL_INTERVAL": "0.2",
    }
    hub.failing = True  # the first worker cannot deliver, then dies
    first = subprocess.Popen([sys.executable, "-m", "ledger", "worker"], env=env)
    time.sleep(3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert hub.messages == []
    hub.failing = False
    with database.write() as session:  # skip the backoff the failure earned, to keep this short
        for alert in session.scalars(select(Alert)):
            alert.next_attempt_at = accounting.utcnow()
    second = subprocess.Popen([sys.executable, "-m", "ledger", "worker"], env=env)
    try:
        deadline = time.monotonic() + 20
        while not hub.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # a few more delivery rounds: nothing more may come
    finally:
        second.terminate()
        second.wait(timeout=20)
    assert len(hub.messages) == 1
    assert "80%" in hub.messages[0]["text"]


def test_an_overrun_alert_is_recorded_once(database: Database, receiver) -> None:
    hub, url = receiver
    team_id = team(database, 1000, [])
    with database.write() as session:  # a hold the table priced, as the proxy takes it
        job = accounting.reserve(
            session,
            team_id,
            100,
            endpoint="image-to-video",
            kind="video",
            model="kling-3.0",
            priced={"resolution": "720p", "audio": False, "basis": "table", "table_credits": 100},
        ).id
    with database.write() as session:
        accounting.settle(session, job, 160)
    # Charged above the estimate too: the per-job overrun alert and its key's under_reserved one.
    assert alerts.deliver_due(database, url) == (2, 0)
    kinds = [message["ledger"]["kind"] for message in hub.messages]
    assert (kinds.count("overrun"), kinds.count("under_reserved")) == (1, 1)
    overrun = hub.messages[kinds.index("overrun")]
    assert "charged 160 credits; 100 were reserved" in overrun["text"]

"""`ledger serve` itself: gunicorn workers, migrations first, graceful stop, structured logs.

The official SDK -> `ledger serve` (a subprocess) -> the simulator, all over real HTTP.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
import magic_hour
import pytest

from ledger import accounting, teams
from ledger.db import Database
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.testing import running_simulator
from tests.support.service import FAST, UPSTREAM_TOKEN, ledger_serve

IMAGE = "api-assets/id/image.png"
METRICS_TOKEN = "metrics-token-for-tests"


@pytest.fixture
def setup(database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    with ExitStack() as stack:
        simulator = stack.enter_context(
            running_simulator(SimulatorOptions(**{**FAST, "token": UPSTREAM_TOKEN}))
        )
        database = Database(database_url)
        stack.callback(database.dispose)
        with database.write() as session:
            teams.create_team(session, "acme", budget_credits=300)
            key = teams.create_key(session, "acme").secret
        env = {
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_UPSTREAM_URL": simulator.url,
            "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
            "LEDGER_UPSTREAM_TIMEOUT": "10",
            "LEDGER_METRICS_TOKEN": METRICS_TOKEN,
        }
        yield simulator, database, key, env, tmp_path / "serve.log"


def test_the_sdk_through_ledger_serve(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    simulator, database, key, env, log_path = setup
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.01")
    with (
        ledger_serve(env, "--workers", "2", log_path=str(log_path)) as (url, _),
        httpx.Client(timeout=30) as http,
    ):
        client = magic_hour.Client(token=key, base_url=url, httpx_client=http)
        created = client.v1.image_to_video.create(assets={"image_file_path": IMAGE}, end_seconds=5)
        assert created.credits_charged == 240  # kling-3.0 (no model, creator, 720p): 48/s x 5 s
        with database.read() as session:
            view = accounting.balance_of(session, teams.get_team(session, "acme"))
        assert (view.held, view.available) == (240, 60)
        with pytest.raises(magic_hour.ApiError) as refused:
            client.v1.image_to_video.create(assets={"image_file_path": IMAGE}, end_seconds=5)
        assert refused.value.status_code == 402
        assert refused.value.body["error"]["available_credits"] == 60
        # Counters from both gunicorn workers add up (prometheus-client multiprocess mode).
        scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        metrics = http.get(f"{url}/metrics", headers=scraper).text
        assert 'outcome="accepted"} 1.0' in metrics and 'outcome="budget_exceeded"} 1.0' in metrics

    creates = simulator.state()["counters"]["POST /v1/image-to-video"]
    assert creates == 1  # the refused one never left ledger
    lines = [
        json.loads(line.split(": ", 1)[1])
        for line in log_path.read_text().splitlines()
        if "ledger.access" in line
    ]
    accepted, refused_line = lines[-2:]
    assert accepted | {"latency_ms": 0} == {
        "event": "proxy",
        "method": "POST",
        "path": "/v1/image-to-video",
        "endpoint": "image-to-video",
        "team": "acme",
        "key": accepted["key"],
        "job": accepted["job"],
        "estimate": 240,
        "outcome": "accepted",
        "status": 200,
        "latency_ms": 0,
    }
    assert refused_line["outcome"] == "budget_exceeded" and refused_line["estimate"] == 240
    text = log_path.read_text()
    assert UPSTREAM_TOKEN not in text and key not in text


def test_sigterm_lets_a_request_in_flight_finish(setup) -> None:  # type: ignore[no-untyped-def]
    simulator, database, key, env, log_path = setup
    simulator.set_faults(slow_rate=1.0, slow_seconds=1.5, scope="create")
    with ledger_serve(env, "--workers", "1", log_path=str(log_path)) as (url, process):
        outcome: dict[str, object] = {}

        def call() -> None:
            outcome["response"] = httpx.post(
                f"{url}/v1/image-to-video",
                json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3},
                headers={"Authorization": f"Bearer {key}"},
                timeout=20,
            )

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.5)  # the request is now waiting on the slow upstream
        process.send_signal(signal.SIGTERM)
        caller.join(timeout=20)
        assert process.wait(timeout=20) == 0
    response = outcome["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 200
    with database.read() as session:
        [job] = accounting_jobs(session)
    assert (job.status, job.upstream_id) == ("submitted", response.json()["id"])


def accounting_jobs(session):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from ledger.models import Job

    return list(session.scalars(select(Job)))


def test_serve_refuses_to_start_without_the_upstream_key(setup) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    _, _, _, env, _ = setup
    env = {k: v for k, v in env.items() if k != "MAGIC_HOUR_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "serve", "--port", "1"],
        env={**__import__("os").environ, **env, "MAGIC_HOUR_API_KEY": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ledger: bad setting: MAGIC_HOUR_API_KEY: not set; "
        "`ledger serve` needs the company's Magic Hour token"
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_requests_over_the_size_limits_get_a_json_error_and_change_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    """gunicorn refuses a request line over 4094 bytes (414) and a header field over 8190 bytes
    or more than 100 fields (431) before the app sees them: in the one JSON error shape."""
    simulator, database, key, env, log_path = setup
    body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3}
    auth = {"Authorization": f"Bearer {key}"}
    with (
        ledger_serve(env, "--workers", "1", log_path=str(log_path)) as (url, _),
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        refused = [
            http.post("/v1/image-to-video?" + "x" * 5000, json=body, headers=auth),
            http.post("/v1/image-to-video", json=body, headers={**auth, "X-Big": "y" * 9000}),
            http.post(
                "/v1/image-to-video",
                json=body,
                headers={**auth, **{f"X-Extra-{n}": "1" for n in range(120)}},
            ),
        ]
        statuses = [r.status_code for r in refused]
        assert statuses == [414, 431, 431]
        for response in refused:
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert error["code"] == "invalid_request" and error["message"]
        # A chunked body has no Content-Length for gunicorn to check: over 1 MiB it is 413 too,
        # not cut at the limit and accepted (a valid create, then 2 MiB of padding).
        padded = (part for part in [json.dumps(body).encode(), *[b" " * 65536] * 32])
        too_large = http.post(
            "/v1/image-to-video",
            content=padded,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert too_large.request.headers["transfer-encoding"] == "chunked"
        assert too_large.status_code == 413
        assert too_large.json()["error"]["code"] == "payload_too_large"
        # A doubled slash is the same path, in JSON (not werkzeug's HTML redirect).
        doubled = httpx.get(f"{url}//v1/account", headers=auth, timeout=10)
        assert doubled.status_code == 200 and doubled.json()["credits"] == 300
        accepted = http.post("/v1/image-to-video", json=body, headers=auth)
        assert accepted.status_code == 200, accepted.text
    with database.read() as session:
        balance = accounting.balance_of(session, teams.get_team(session, "acme"))
    # the one create that got through: kling-3.0 (no model, creator, 720p), 48 credits/s x 3 s
    assert balance.held + balance.spent == 144
    assert simulator.state()["counters"].get("POST /v1/image-to-video") == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_serve_started_beside_a_clone_named_ledger_runs_its_scheduler(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The layout after `git clone ... ledger && pip install -e ledger`: started from the folder
    that holds the clone, the scheduler child imports the installed package, not the clone's
    folder (as an empty namespace package, where `ledger.config` has no `Settings`)."""
    _, _, _, env, log_path = setup
    beside = tmp_path / "projects"
    beside.mkdir()
    (beside / "ledger").symlink_to(Path(__file__).resolve().parents[2])  # the checkout
    # ledger_serve waits (30 s at most) for /readyz 200, which needs the scheduler's heartbeat.
    with ledger_serve(env, "--workers", "1", log_path=str(log_path), cwd=str(beside)) as (url, _):
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"]["scheduler"] == "ok"
    assert "ImportError" not in log_path.read_text()


class Tricklers:
    """``count`` sockets that each began a request and send one more header byte every 0.5 s."""

    def __init__(self, url: str, count: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"POST /v1/image-to-video HTTP/1.1\r\nHost: ledger\r\nX-Slow: ")
            self.sockets.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(0.5):
            for sock in self.sockets:
                with suppress(OSError):
                    sock.send(b"a")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


TRICKLERS = 200
CREATES = 10


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_creates_keep_answering_while_200_sockets_trickle_their_headers(setup) -> None:  # type: ignore[no-untyped-def]
    """gunicorn's gthread worker reads a request in one of its threads, so a socket that sends
    a byte now and then holds a thread as long as it goes on, and connections are not spread
    evenly over the workers. The defaults (2 workers x 256 threads) leave room for 200 such
    sockets even if one worker takes them all; past that, a deployment needs a reverse proxy in
    front that buffers requests (README, Operations)."""
    simulator, database, key, env, log_path = setup
    with database.write() as session:
        teams.update_team(session, "acme", budget_credits=10_000)
    with ExitStack() as stack:
        url, _ = stack.enter_context(ledger_serve(env, log_path=str(log_path)))
        tricklers = Tricklers(url, TRICKLERS)
        stack.callback(tricklers.close)
        time.sleep(1.0)  # every trickler accepted and holding whatever it holds

        statuses = []
        # A starved server never answers: 1 s bounds "keeps answering".
        with httpx.Client(base_url=url, timeout=1.0) as http:
            for _ in range(CREATES):
                # A fresh connection each time: whichever worker takes it must have room.
                response = http.post(
                    "/v1/image-to-video",
                    json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3},
                    headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                )
                statuses.append(response.status_code)
            assert http.get("/healthz").status_code == 200
        assert statuses == [200] * CREATES

    with database.read() as session:
        balance = accounting.balance_of(session, teams.get_team(session, "acme"))
    assert balance.held + balance.spent == CREATES * 144  # kling-3.0 720p, 48 credits/s x 3 s
    assert simulator.state()["counters"].get("POST /v1/image-to-video") == CREATES

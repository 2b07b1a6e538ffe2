"""Slow clients: sockets that trickle their headers must not deny `ledger serve` to others.

`ledger serve` (gunicorn gthread) reads a request in one of its threads, so a socket that sends
a byte now and then holds a thread as long as it goes on, and connections are not spread evenly
over the workers. The defaults (2 workers x 256 threads) leave room for 200 such sockets even
if one worker takes them all; past that, a deployment needs a reverse proxy in front that
buffers requests (README, Operations).
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack, suppress

import httpx
import pytest

from ledger import accounting, teams
from ledger.db import Database
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.testing import running_simulator
from tests.support.service import FAST, UPSTREAM_TOKEN, ledger_serve

TRICKLERS = 200
CREATES = 10
ANSWER_SECONDS = 1.0  # a starved server never answers: this bounds "keeps answering"
BODY = {"assets": {"image_file_path": "api-assets/id/image.png"}, "end_seconds": 3}


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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_creates_keep_answering_while_200_sockets_trickle_their_headers(  # type: ignore[no-untyped-def]
    database_url: str, tmp_path
) -> None:
    with ExitStack() as stack:
        simulator = stack.enter_context(
            running_simulator(SimulatorOptions(**{**FAST, "token": UPSTREAM_TOKEN}))
        )
        database = Database(database_url)
        stack.callback(database.dispose)
        with database.write() as session:
            teams.create_team(session, "acme", budget_credits=10_000)
            key = teams.create_key(session, "acme").secret
        env = {
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_UPSTREAM_URL": simulator.url,
            "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
        }
        url, _ = stack.enter_context(ledger_serve(env, log_path=str(tmp_path / "serve.log")))
        tricklers = Tricklers(url, TRICKLERS)
        stack.callback(tricklers.close)
        time.sleep(1.0)  # every trickler accepted and holding whatever it holds

        statuses = []
        with httpx.Client(base_url=url, timeout=ANSWER_SECONDS) as http:
            for _ in range(CREATES):
                # A fresh connection each time: whichever worker takes it must have room.
                response = http.post(
                    "/v1/image-to-video",
                    json=BODY,
                    headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                )
                statuses.append(response.status_code)
            assert http.get("/healthz").status_code == 200
        assert statuses == [200] * CREATES
        tricklers.close()

        with database.read() as session:
            balance = accounting.balance_of(session, teams.get_team(session, "acme"))
        assert balance.held + balance.spent == CREATES * 144  # kling-3.0 720p, 48 credits/s x 3 s
        assert simulator.state()["counters"].get("POST /v1/image-to-video") == CREATES

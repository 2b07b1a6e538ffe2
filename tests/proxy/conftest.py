"""Fixtures: the ledger service in front of a simulator, both over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from ledger.config import load_settings
from ledger.db import Database
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.testing import running_simulator
from ledger.web import create_app, services_of
from tests.support.service import ADMIN_TOKEN, FAST, UPSTREAM_TOKEN, Ledger, serving


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.01")


@pytest.fixture
def make_ledger(database_url: str) -> Iterator[Callable[..., Ledger]]:
    """``make_ledger(**simulator_options)``: a simulator and a ledger service in front of it."""
    with ExitStack() as stack:

        def make(
            upstream_timeout: float = 2.0,
            webhook_secret: str | None = None,
            secret_key: str | None = None,
            metrics_token: str | None = None,
            **simulator_options: Any,
        ) -> Ledger:
            options = SimulatorOptions(**{**FAST, "token": UPSTREAM_TOKEN, **simulator_options})
            simulator = stack.enter_context(running_simulator(options))
            database = Database(database_url, sqlite_busy_timeout_ms=500)
            settings = load_settings(
                {},
                database_url=database_url,
                upstream_url=simulator.url,
                magic_hour_api_key=UPSTREAM_TOKEN,
                upstream_timeout=upstream_timeout,
                webhook_secret=webhook_secret,
                secret_key=secret_key,
                metrics_token=metrics_token,
                admin_token=ADMIN_TOKEN,
            )
            app = create_app(settings, database=database)
            stack.callback(services_of(app).close)
            url = stack.enter_context(serving(app))
            return Ledger(url, app, database, simulator)

        yield make


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack

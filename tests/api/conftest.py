"""Fixtures for the ledger API: the app on the test database, with an admin token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask

from ledger.config import load_settings
from ledger.db import Database
from ledger.web import create_app, services_of
from tests.support.service import ADMIN_TOKEN


@pytest.fixture
def make_app(database: Database) -> Iterator[Callable[..., Flask]]:
    """``make_app(**settings)``: the ledger app on the test database; upstream unreachable."""
    with ExitStack() as stack:

        def make(**settings: Any) -> Flask:
            options = {
                "database_url": database.url.render_as_string(hide_password=False),
                "upstream_url": "http://127.0.0.1:9",
                "magic_hour_api_key": "sk-upstream",
                "admin_token": ADMIN_TOKEN,
                **settings,
            }
            app = create_app(load_settings({}, **options), database=database)
            stack.callback(services_of(app).upstream.close)
            return app

        yield make

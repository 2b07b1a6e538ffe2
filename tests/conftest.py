"""Shared fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL comes from ``LEDGER_TEST_POSTGRES_URL`` (default: the local server with trust auth).
Outside CI an unreachable server skips those tests with a reason; with ``CI`` set it fails them,
so a CI run can never pass without having tested PostgreSQL.

The suite opens at most ``POSTGRES_CONNECTIONS`` connections to that server at once (README,
Development): every ledger process it starts keeps pools of ``LEDGER_DATABASE_POOL_SIZE``,
set small here. When fewer are free at the start, the run stops at once with one line.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger import db
from ledger.config import load_settings
from ledger.db import Database
from ledger.web import create_app, services_of
from ledger.zones import use_billing_zone
from tests.support.service import ADMIN_TOKEN

BACKENDS = ["sqlite", "postgresql"]
POSTGRES_URL = os.environ.get(
    "LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_CONNECTIONS = 45  # the most this suite has open at once: 36 measured, with a margin
# Small pools in every ledger the tests start, in this process and in its children.
os.environ.setdefault("LEDGER_DATABASE_POOL_SIZE", "3")


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL is not reachable at {POSTGRES_URL} ({reason})"
    if IN_CI:
        pytest.fail(message + "; CI requires it", pytrace=False)
    pytest.skip(message + "; set LEDGER_TEST_POSTGRES_URL to test it")


class PostgresServer:
    """Creates throwaway databases, cloned from one migrated template per test session."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.run_id = uuid.uuid4().hex[:8]
        self.template = f"ledger_tpl_{self.run_id}"
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def create_template(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.template}"'))
        self.created.append(self.template)
        template = Database(self.url_for(self.template))
        try:
            db.upgrade(template)
        finally:
            template.dispose()

    def new_database(self, migrated: bool = True) -> str:
        name = f"ledger_t_{self.run_id}_{uuid.uuid4().hex[:8]}"
        clause = f' TEMPLATE "{self.template}"' if migrated else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self.created.append(name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in reversed(self.created):
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any test runs: stop with one line if PostgreSQL cannot give the suite the
    connections it needs (an unreachable server is the ``postgres`` fixture's to report)."""
    if not any(_uses_postgres(item) for item in session.items):
        return
    engine = create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            free = connection.execute(
                text(
                    "SELECT current_setting('max_connections')::int"
                    " - current_setting('superuser_reserved_connections')::int"
                    " - (SELECT count(*) FROM pg_stat_activity"
                    "    WHERE backend_type = 'client backend')"
                )
            ).scalar_one()
    except Exception:  # unreachable: the postgres fixture says so, test by test
        return
    finally:
        engine.dispose()
    free += 1  # this check's own connection, closed now
    if free < POSTGRES_CONNECTIONS:
        pytest.exit(
            f"PostgreSQL at {POSTGRES_URL} has {free} free connections; the tests need "
            f"{POSTGRES_CONNECTIONS} (other clients hold the rest)",
            returncode=1,
        )


def _uses_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("backend") == "postgresql"


@pytest.fixture(autouse=True)
def _billing_zone_back_to_utc() -> Iterator[None]:
    """The billing zone is the process's (an app or a test may choose another): UTC again after."""
    yield
    use_billing_zone("UTC")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_URL)
    try:
        with server.admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no server to test against
        server.admin.dispose()
        _postgres_unavailable(type(exc).__name__)
    server.create_template()
    yield server
    server.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    template = Database(f"sqlite:///{path}")
    try:
        db.upgrade(template)
    finally:
        template.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database at the newest migration, dropped afterwards."""
    if backend == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.new_database()
    yield url
    server.drop(url)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


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

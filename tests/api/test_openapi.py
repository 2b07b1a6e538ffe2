"""Schemathesis against /api/openapi.json: no 5xx, and every answer matches the description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from ledger import accounting, teams
from ledger.config import load_settings
from ledger.db import Database
from ledger.web import create_app, services_of

ADMIN = "admin-token-for-schemathesis"


@pytest.fixture
def api_schema(database: Database) -> Iterator[schemathesis.schemas.BaseSchema]:
    settings_ = load_settings(
        {},
        database_url=database.url.render_as_string(hide_password=False),
        upstream_url="http://127.0.0.1:9",
        magic_hour_api_key="sk-upstream",
        admin_token=ADMIN,
    )
    app = create_app(settings_, database=database)
    with database.write() as session:
        team = teams.create_team(session, "acme", budget_credits=1000)
        teams.create_key(session, "acme")
        job = accounting.reserve(session, team.id, 150, endpoint="image-to-video", kind="video")
    with database.write() as session:
        accounting.settle(session, job.id, 120)
    yield schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    services_of(app).upstream.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_description(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code < 500, response.text
    # Auth is ours to give (the admin token), not schemathesis's to invent. And a request the
    # schema allows may still be refused on its meaning (an opaque cursor, a date that is not
    # one, a team that does not exist): those are 4xx by design, not failures.
    case.validate_response(response, excluded_checks=[ignored_auth, positive_data_acceptance])

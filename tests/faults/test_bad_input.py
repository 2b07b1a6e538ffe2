"""Bad input, thrown at the proxy and the API by hypothesis: malformed, huge, deeply nested,
wrongly typed, NaN, infinite, negative and non-UTF-8 bodies and headers. Every answer is a JSON
error with a 4xx status (never a 5xx), and nothing stays reserved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ledger import teams
from ledger.db import Database
from ledger.models import Balance, Job
from tests.support.service import ADMIN_TOKEN

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=30,
)
# Bodies that look like creates, with cost fields of every wrong kind.
create_like = st.fixed_dictionaries(
    {},
    optional={
        "assets": json_values,
        "end_seconds": json_values,
        "start_seconds": json_values,
        "model": json_values,
        "resolution": json_values,
        "image_count": json_values,
        "duration": json_values,
        "style": json_values,
    },
)


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


raw_bodies = (
    st.binary(max_size=300)
    | json_values.map(encoded)
    | create_like.map(encoded)
    | st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.just(b'{"end_seconds": 1e400}')
    | st.just(b"\xff\xfe{\x00}")
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300)


@pytest.fixture
def client(make_app, database: Database) -> tuple[FlaskClient, str]:  # type: ignore[no-untyped-def]
    with database.write() as session:
        teams.create_team(session, "acme", budget_credits=1000)
        key = teams.create_key(session, "acme").secret
    return make_app().test_client(), key


def assert_json_4xx(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and set(body["error"]) >= {"code", "message"}, response.data


def nothing_held(database: Database) -> None:
    with database.read() as session:
        open_jobs = session.scalar(
            select(func.count()).select_from(Job).where(Job.ended_at.is_(None))
        )
        held = session.scalar(select(func.coalesce(func.sum(Balance.held), 0)))
    assert (open_jobs, held) == (0, 0)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_create_bodies_get_4xx_json_and_reserve_nothing(client, database) -> None:  # type: ignore[no-untyped-def]
    api, key = client

    @SETTINGS
    @given(
        endpoint=st.sampled_from(
            [
                "image-to-video",
                "ai-image-generator",
                "ai-music-generator",
                "text-to-video",
                "lip-sync",
            ]
        ),
        body=raw_bodies,
    )
    def check(endpoint: str, body: bytes) -> None:
        response = api.post(
            f"/v1/{endpoint}",
            data=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        # The upstream here is unreachable: a body good enough to be sent gets 502, released.
        if response.status_code == 502:
            assert response.get_json()["error"]["code"] == "upstream_error"
        else:
            assert_json_4xx(response)
        nothing_held(database)

    check()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_headers_get_4xx_json_and_reserve_nothing(client, database) -> None:  # type: ignore[no-untyped-def]
    api, key = client

    @SETTINGS
    @given(
        authorization=header_values,
        tags=header_values,
        idempotency=header_values,
        dry_run=header_values,
        use_key=st.booleans(),
    )
    def check(authorization: str, tags: str, idempotency: str, dry_run: str, use_key: bool) -> None:
        headers = {
            "Authorization": f"Bearer {key}" if use_key else authorization,
            "X-Ledger-Tags": tags,
            "Idempotency-Key": idempotency,
            "X-Ledger-Dry-Run": dry_run,
        }
        response = api.post("/v1/image-to-video", data=b'{"end_seconds": 3}', headers=headers)
        if response.status_code in (200, 502):  # well-formed after all: a dry run, or sent
            return nothing_held(database)
        assert_json_4xx(response)
        nothing_held(database)

    check()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_api_input_gets_4xx_json(client, database) -> None:  # type: ignore[no-untyped-def]
    api, _ = client
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}

    @SETTINGS
    @given(
        route=st.sampled_from(
            [
                ("POST", "/api/teams"),
                ("PATCH", "/api/teams/acme"),
                ("POST", "/api/teams/acme/adjustments"),
                ("POST", "/api/teams/acme/keys"),
                ("POST", "/api/quote"),
                ("POST", "/api/jobs/job_x/resolve"),
            ]
        ),
        body=raw_bodies,
    )
    def check(route: tuple[str, str], body: bytes) -> None:
        response = api.open(route[1], method=route[0], data=body, headers=admin)
        if response.status_code in (200, 201):
            return  # hypothesis found a valid request; fine
        assert_json_4xx(response)

    check()
    nothing_held(database)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_query_strings_get_4xx_json(client) -> None:  # type: ignore[no-untyped-def]
    api, _ = client
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @SETTINGS
    @given(
        path=st.sampled_from(
            [
                "/api/jobs",
                "/api/entries",
                "/api/alerts",
                "/api/reports/spend",
                "/api/teams",
                "/api/drift",
            ]
        ),
        params=st.dictionaries(
            st.sampled_from(
                [
                    "limit",
                    "cursor",
                    "team",
                    "status",
                    "since",
                    "until",
                    "from",
                    "to",
                    "group_by",
                    "format",
                    "x",
                ]
            ),
            st.text(max_size=60),  # any text, NUL and non-Latin included
            max_size=4,
        ),
    )
    def check(path: str, params: dict[str, str]) -> None:
        response = api.get(path, query_string=params, headers=admin)
        if response.status_code == 200:
            return
        assert_json_4xx(response)

    check()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_hostile_path_parameters_get_4xx_json(client) -> None:  # type: ignore[no-untyped-def]
    api, key = client
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    team_key = {"Authorization": f"Bearer {key}"}

    @SETTINGS
    @given(value=st.text(min_size=1, max_size=80).filter(lambda v: "/" not in v))
    def check(value: str) -> None:
        for method, path, headers in (
            ("GET", f"/api/teams/{value}", admin),
            ("GET", f"/api/jobs/{value}", admin),
            ("DELETE", f"/api/keys/{value}", admin),
            ("GET", f"/v1/video-projects/{value}", team_key),
            ("DELETE", f"/v1/image-projects/{value}", team_key),
        ):
            assert_json_4xx(api.open(path, method=method, headers=headers))

    check()

"""The ledger API: auth, validation, pagination, and what each endpoint answers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger import accounting, teams
from ledger.db import Database
from ledger.models import Entry, Job, Team
from tests.support.service import ADMIN_TOKEN

ADMIN = ADMIN_TOKEN


@pytest.fixture
def api(make_app) -> FlaskClient:  # type: ignore[no-untyped-def]
    return make_app().test_client()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN_AUTH = auth(ADMIN)


def make_team(api: FlaskClient, slug: str, budget: int = 1000, **extra: Any) -> str:
    """Create a team through the API; return a key for it."""
    created = api.post(
        "/api/teams", json={"slug": slug, "budget_credits": budget, **extra}, headers=ADMIN_AUTH
    )
    assert created.status_code == 201, created.json
    key = api.post(f"/api/teams/{slug}/keys", json={"label": "ci"}, headers=ADMIN_AUTH)
    assert key.status_code == 201
    return str(key.json["key"])


def hold(database: Database, slug: str, credits: int) -> str:
    with database.write() as session:
        team = teams.get_team(session, slug)
        return accounting.reserve(
            session, team.id, credits, endpoint="image-to-video", kind="video"
        ).id


def counts(database: Database) -> tuple[int, ...]:
    with database.read() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Team, Job, Entry)
        )


def test_a_team_round_trip(api: FlaskClient) -> None:
    created = api.post(
        "/api/teams",
        json={
            "slug": "acme",
            "name": "Acme",
            "budget_credits": 5000,
            "period": "week",
            "max_credits_per_request": 900,
            "alert_thresholds": [80, 50],
        },
        headers=ADMIN_AUTH,
    )
    assert created.status_code == 201
    assert created.json | {"created_at": None, "balance": None} == {
        "slug": "acme",
        "name": "Acme",
        "budget_credits": 5000,
        "period": "week",
        "max_credits_per_request": 900,
        "alert_thresholds": [50, 80],
        "created_at": None,
        "balance": None,
    }
    assert created.json["balance"]["available"] == 5000
    changed = api.patch(
        "/api/teams/acme", json={"budget_credits": 6000, "period": "month"}, headers=ADMIN_AUTH
    )
    assert changed.status_code == 200
    assert (changed.json["budget_credits"], changed.json["balance"]["period"]) == (6000, "month")
    assert api.get("/api/teams/acme", headers=ADMIN_AUTH).json["balance"]["budget"] == 6000
    assert [t["slug"] for t in api.get("/api/teams", headers=ADMIN_AUTH).json["items"]] == ["acme"]


def test_balance_and_adjustments(api: FlaskClient, database: Database) -> None:
    make_team(api, "acme", 1000)
    hold(database, "acme", 150)
    adjusted = api.post(
        "/api/teams/acme/adjustments", json={"credits": -100, "reason": "fix"}, headers=ADMIN_AUTH
    )
    assert adjusted.status_code == 201
    assert (adjusted.json["kind"], adjusted.json["credits"]) == ("adjustment", 100)
    assert adjusted.json["from_account"] == "available"  # credits left the team
    balance = api.get("/api/teams/acme/balance", headers=ADMIN_AUTH).json
    assert {
        k: balance[k]
        for k in ("team", "period", "budget", "held", "spent", "adjustments", "available")
    } == {
        "team": "acme",
        "period": "month",
        "budget": 1000,
        "held": 150,
        "spent": 0,
        "adjustments": -100,
        "available": 750,
    }
    assert balance["period_start"].endswith("T00:00:00Z")


def test_keys_are_shown_once_and_revocable(api: FlaskClient) -> None:
    secret = make_team(api, "acme")
    listed = api.get("/api/teams/acme/keys", headers=ADMIN_AUTH).json["items"]
    assert len(listed) == 1 and "key" not in listed[0] and secret not in str(listed)
    assert api.get("/api/teams/acme/balance", headers=auth(secret)).status_code == 200
    revoked = api.delete(f"/api/keys/{listed[0]['id']}", headers=ADMIN_AUTH)
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert api.get("/api/teams/acme/balance", headers=auth(secret)).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/teams", {"slug": "x", "budget_credits": 1}),
        ("GET", "/api/teams", None),
        ("PATCH", "/api/teams/acme", {"budget_credits": 1}),
        ("POST", "/api/teams/acme/keys", {}),
        ("GET", "/api/teams/acme/keys", None),
        ("POST", "/api/teams/acme/adjustments", {"credits": 5, "reason": "x"}),
        ("POST", "/api/jobs/job_x/resolve", {"release": True}),
    ],
)
def test_a_team_key_cannot_do_admin_things(api, database, method, path, body) -> None:
    secret = make_team(api, "acme")
    before = counts(database)
    response = api.open(path, method=method, json=body, headers=auth(secret))
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert counts(database) == before


def test_a_team_key_reads_only_its_own_team(api: FlaskClient, database: Database) -> None:
    a, b = make_team(api, "team-a"), make_team(api, "team-b")
    job_b = hold(database, "team-b", 10)
    hold(database, "team-a", 20)
    assert api.get("/api/teams/team-b/balance", headers=auth(a)).status_code == 404
    assert api.get("/api/teams/team-b", headers=auth(a)).status_code == 404
    assert api.get(f"/api/jobs/{job_b}", headers=auth(a)).status_code == 404
    assert api.get("/api/jobs?team=team-b", headers=auth(a)).status_code == 404
    own_jobs = api.get("/api/jobs", headers=auth(a)).json["items"]
    assert [j["team"] for j in own_jobs] == ["team-a"]
    own_entries = api.get("/api/entries", headers=auth(a)).json["items"]
    assert {e["team"] for e in own_entries} == {"team-a"}
    assert api.get(f"/api/jobs/{job_b}", headers=auth(b)).status_code == 200


@pytest.mark.parametrize("headers", [{}, auth("nope"), {"Authorization": "Basic abc"}])
def test_no_or_a_bad_token_gets_401(api: FlaskClient, headers) -> None:
    for path in ("/api/teams", "/api/jobs", "/api/entries", "/api/teams/acme/balance"):
        response = api.get(path, headers=headers)
        assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


def test_without_an_admin_token_configured_nobody_is_admin(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(admin_token=None).test_client()
    for token in ("", ADMIN, "None"):
        assert client.get("/api/teams", headers=auth(token)).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Bad Slug", "budget_credits": 1},
        {"slug": "ok", "budget_credits": -1},
        {"slug": "ok", "budget_credits": "100"},
        {"slug": "ok", "budget_credits": 1, "period": "year"},
        {"slug": "ok", "budget_credits": 1, "colour": "red"},
        {"slug": "ok"},
        {"slug": "ok", "budget_credits": 1, "max_credits_per_request": 0},
        {"slug": "ok", "budget_credits": 1, "alert_thresholds": "80"},
        [],
    ],
)
def test_bad_team_input_is_422_and_changes_nothing(api, database, body) -> None:
    before = counts(database)
    response = api.post("/api/teams", json=body, headers=ADMIN_AUTH)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_request"
    assert counts(database) == before


def test_bad_adjustments_and_patches_are_refused(api: FlaskClient, database: Database) -> None:
    make_team(api, "acme")
    before = counts(database)
    for body in (
        {"credits": 0, "reason": "x"},
        {"credits": 5},
        {"credits": 1.5, "reason": "x"},
        {"credits": 5, "reason": ""},
    ):
        response = api.post("/api/teams/acme/adjustments", json=body, headers=ADMIN_AUTH)
        assert response.status_code == 422, body
    for body in ({}, {"slug": "renamed"}, {"budget_credits": -5}):
        assert api.patch("/api/teams/acme", json=body, headers=ADMIN_AUTH).status_code == 422
    assert (
        api.patch("/api/teams/nope", json={"budget_credits": 5}, headers=ADMIN_AUTH).status_code
        == 404
    )
    assert counts(database) == before


def test_jobs_filter_and_show_their_entries(api: FlaskClient, database: Database) -> None:
    make_team(api, "acme", 10_000)
    settled = hold(database, "acme", 100)
    open_job = hold(database, "acme", 50)
    with database.write() as session:
        accounting.settle(session, settled, 80)
    listed = api.get("/api/jobs?status=settled", headers=ADMIN_AUTH).json["items"]
    assert [j["id"] for j in listed] == [settled]
    assert listed[0]["charged_credits"] == 80 and listed[0]["ended_at"]
    assert [
        j["id"]
        for j in api.get("/api/jobs?status=reserved&team=acme", headers=ADMIN_AUTH).json["items"]
    ] == [open_job]
    detail = api.get(f"/api/jobs/{settled}", headers=ADMIN_AUTH).json
    assert [(e["kind"], e["credits"]) for e in detail["entries"]] == [
        ("reserve", 100),
        ("settle", 80),
        ("return", 20),
    ]
    for bad in ("status=lost", "limit=0", "limit=abc", "since=yesterday", "cursor=garbage"):
        response = api.get(f"/api/jobs?{bad}", headers=ADMIN_AUTH)
        assert response.status_code == 422, bad


def test_pagination_neither_skips_nor_repeats_under_concurrent_inserts(
    api: FlaskClient, database: Database
) -> None:
    make_team(api, "acme", 10**9)
    existing = {hold(database, "acme", 1) for _ in range(45)}
    stop = threading.Event()

    def keep_inserting() -> None:
        while not stop.is_set():
            hold(database, "acme", 1)

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    seen: list[str] = []
    try:
        cursor = None
        while True:
            query = "/api/jobs?limit=7" + (f"&cursor={cursor}" if cursor else "")
            page = api.get(query, headers=ADMIN_AUTH).json
            seen += [j["id"] for j in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen))  # no repeats
    assert existing <= set(seen)  # no skips


def test_entries_paginate_and_filter(api: FlaskClient, database: Database) -> None:
    make_team(api, "acme", 10**6)
    for _ in range(5):
        hold(database, "acme", 3)
    first = api.get("/api/entries?limit=4&team=acme", headers=ADMIN_AUTH).json
    second = api.get(f"/api/entries?limit=4&cursor={first['next_cursor']}", headers=ADMIN_AUTH).json
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)  # 5 reserves and the allocation
    assert second["next_cursor"] is None
    assert api.get("/api/entries?since=2999-01-01", headers=ADMIN_AUTH).json["items"] == []


def test_resolving_an_unknown_job(api: FlaskClient, database: Database) -> None:
    make_team(api, "acme", 1000)
    lost, found = hold(database, "acme", 100), hold(database, "acme", 200)
    with database.write() as session:
        for job_id in (lost, found):
            session.get(Job, job_id).status = "unknown"
    released = api.post(f"/api/jobs/{lost}/resolve", json={"release": True}, headers=ADMIN_AUTH)
    assert released.status_code == 200
    assert (released.json["status"], released.json["flag"]) == ("released", "released_by_admin")
    resolved = api.post(
        f"/api/jobs/{found}/resolve", json={"upstream_id": "vid-123"}, headers=ADMIN_AUTH
    )
    assert (resolved.json["status"], resolved.json["upstream_id"]) == ("submitted", "vid-123")
    again = api.post(f"/api/jobs/{lost}/resolve", json={"release": True}, headers=ADMIN_AUTH)
    assert again.status_code == 409
    for body in ({}, {"release": False}, {"release": True, "upstream_id": "x"}, {"upstream_id": 5}):
        assert (
            api.post(f"/api/jobs/{found}/resolve", json=body, headers=ADMIN_AUTH).status_code == 422
        )
    assert (
        api.post(
            "/api/jobs/job_nope/resolve", json={"release": True}, headers=ADMIN_AUTH
        ).status_code
        == 404
    )


def test_quote(api: FlaskClient) -> None:
    secret = make_team(api, "acme")
    body = {"endpoint": "image-to-video", "body": {"end_seconds": 5}}
    for token in (ADMIN, secret):
        response = api.post("/api/quote", json=body, headers=auth(token))
        # no model on creator at 720p: kling-3.0, 48 credits/s x 5 s
        assert response.status_code == 200 and response.json["estimated_credits"] == 240
    bad = api.post(
        "/api/quote", json={"endpoint": "image-to-video", "body": {}}, headers=ADMIN_AUTH
    )
    assert bad.status_code == 422 and "end_seconds" in bad.json["error"]["message"]
    assert (
        api.post(
            "/api/quote", json={"endpoint": "nope", "body": {}}, headers=ADMIN_AUTH
        ).status_code
        == 404
    )


def test_every_error_is_json(api: FlaskClient) -> None:
    for method, path in (("GET", "/api/nope"), ("DELETE", "/api/teams"), ("GET", "/nothing")):
        response = api.open(path, method=method, headers=ADMIN_AUTH)
        assert response.status_code in (404, 405)
        assert response.is_json and set(response.json["error"]) >= {"code", "message"}


def test_alerts_are_listed_per_team(api: FlaskClient, database: Database) -> None:
    a = make_team(api, "team-a", 100, alert_thresholds=[])
    make_team(api, "team-b", 100, alert_thresholds=[])
    job_a, job_b = hold(database, "team-a", 100), hold(database, "team-b", 100)
    with database.write() as session:
        accounting.settle(session, job_a, 130)
        accounting.settle(session, job_b, 150)
    everything = api.get("/api/alerts", headers=ADMIN_AUTH).json["items"]
    assert [(x["team"], x["kind"], x["job_id"]) for x in everything] == [
        ("team-b", "overrun", job_b),
        ("team-a", "overrun", job_a),
    ]
    own = api.get("/api/alerts", headers=auth(a)).json["items"]
    assert [x["job_id"] for x in own] == [job_a]
    assert api.get("/api/alerts?team=team-b", headers=auth(a)).status_code == 404

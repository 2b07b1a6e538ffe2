"""Input that once got a 500, an HTML page or was silently accepted, over real HTTP: each is now
a 4xx in the one JSON error shape, the same on SQLite and PostgreSQL, and nothing is written."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ledger import teams
from ledger.db import Database
from ledger.models import ApiKey, Entry, Job, Team, WebhookEvent
from ledger.webhooks.signing import signed_headers
from tests.support.service import ADMIN_TOKEN, serving

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WEBHOOK_SECRET = "whsec-for-tests"
LONE = "\ud800"  # a lone surrogate: json.dumps sends it as the escape \ud800


@pytest.fixture
def service(make_app, database: Database) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A served ledger (upstream unreachable) with team acme; yields (url, acme's key)."""
    with database.write() as session:
        teams.create_team(session, "acme", budget_credits=1000, name="Acme")
        key = teams.create_key(session, "acme", label="ci").secret
    with serving(make_app(webhook_secret=WEBHOOK_SECRET)) as url:
        yield url, key


def raw_json(document: Any) -> bytes:
    return json.dumps(document).encode()  # ensure_ascii: a lone surrogate stays an escape


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> httpx.Response:
    headers = {**headers, "Content-Type": "application/json"}
    return httpx.request(method, url, content=body, headers=headers, timeout=10)


def refused(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    for word in words:
        assert word in error["message"], error


def count(database: Database, model: Any) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def acme(database: Database) -> tuple[str, list[str | None]]:
    with database.read() as session:
        team = teams.get_team(session, "acme")
        labels = list(session.scalars(select(ApiKey.label).where(ApiKey.team_id == team.id)))
        return team.name, labels


# -- 1, 8: text the database cannot hold -------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "why"),
    [(LONE, "Unicode"), ("m" * 65, "at most 64"), ("kling\x003.0", "NUL")],
    ids=["lone-surrogate", "too-long", "nul"],
)
def test_a_create_whose_model_cannot_be_stored_is_422_and_reserves_nothing(
    service, database, model, why
) -> None:  # type: ignore[no-untyped-def]
    url, key = service
    auth = {"Authorization": f"Bearer {key}"}
    response = post(f"{url}/v1/image-to-video", raw_json({"end_seconds": 3, "model": model}), auth)
    refused(response, 422, "invalid_request", "model", why)
    assert count(database, Job) == 0


def test_a_model_as_long_as_its_column_is_still_priced(service) -> None:  # type: ignore[no-untyped-def]
    url, key = service
    headers = {"Authorization": f"Bearer {key}", "X-Ledger-Dry-Run": "true"}
    response = post(
        f"{url}/v1/image-to-video", raw_json({"end_seconds": 3, "model": "m" * 64}), headers
    )
    assert response.status_code == 200 and response.json()["basis"] == "fallback"


@pytest.mark.parametrize("bad", [LONE, "a\x00b"], ids=["lone-surrogate", "nul"])
def test_team_names_labels_and_reasons_that_cannot_be_stored_are_422(
    service, database, bad
) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    before = (count(database, Team), count(database, Entry), acme(database))
    attempts = [
        ("POST", "/api/teams", {"slug": "beta", "budget_credits": 10, "name": bad}, "name"),
        ("PATCH", "/api/teams/acme", {"name": bad}, "name"),
        ("POST", "/api/teams/acme/adjustments", {"credits": 5, "reason": bad}, "reason"),
        ("POST", "/api/teams/acme/keys", {"label": bad}, "label"),
    ]
    for method, path, body, field in attempts:
        refused(post(url + path, raw_json(body), ADMIN, method), 422, "invalid_request", field)
    assert (count(database, Team), count(database, Entry), acme(database)) == before


def webhook(url: str, document: dict[str, Any]) -> httpx.Response:
    body = raw_json(document)
    headers = {**signed_headers(WEBHOOK_SECRET, body), "Content-Type": "application/json"}
    return httpx.post(f"{url}/webhooks/magic-hour", content=body, headers=headers, timeout=10)


def test_a_verified_webhook_with_a_lone_surrogate_is_refused_or_kept_never_500(
    service, database
) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    # In the project id (which is kept as text): refused, nothing kept.
    for bad_id in (LONE, "proj\x00"):
        payload = {"id": bad_id, "status": "complete", "credits_charged": 5}
        response = webhook(url, {"type": "video.completed", "payload": payload})
        refused(response, 422, "invalid_request", "payload.id")
    assert count(database, WebhookEvent) == 0
    # Anywhere else (the body itself is kept as bytes, byte for byte): received.
    payload = {"id": "proj-1", "status": "complete", "credits_charged": 5, "name": LONE}
    kept = webhook(url, {"type": "video.completed", "payload": payload})
    assert kept.status_code == 200 and kept.json()["outcome"] == "received"
    odd_status = webhook(url, {"type": "video.started", "payload": {"id": "p2", "status": LONE}})
    assert odd_status.status_code == 200
    assert count(database, WebhookEvent) == 2


# -- 2: dates that overflow --------------------------------------------------------------------

OVERFLOWING = ["9999-12-31", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
WINDOWS = [
    ("/api/jobs", "since"),
    ("/api/jobs", "until"),
    ("/api/entries", "since"),
    ("/api/entries", "until"),
    ("/api/reports/spend", "from"),
    ("/api/reports/spend", "to"),
    ("/api/drift", "from"),
    ("/api/drift", "to"),
    ("/api/pricing/observed", "from"),
    ("/api/pricing/observed", "to"),
]


def test_dates_beyond_what_a_window_can_hold_are_422_naming_the_parameter(service) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as http:
        for path, name in WINDOWS:
            for value in OVERFLOWING:
                response = http.get(path, params={name: value})
                refused(response, 422, "invalid_request", name, "1970-01-01", "9999-01-01")


def test_the_widest_window_still_answers(service) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    widest = {
        "/api/jobs": {"since": "1970-01-01", "until": "9998-12-31"},
        "/api/entries": {"since": "1970-01-01T00:00:00Z", "until": "9999-01-01T00:00:00Z"},
        "/api/reports/spend": {
            "from": "1970-01-01",
            "to": "9999-01-01",
            "group_by": "team,day,week,month",
        },
        "/api/drift": {"from": "1970-01-01", "to": "9998-12-31"},
        "/api/pricing/observed": {"from": "1970-01-01", "to": "9998-12-31"},
    }
    with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as http:
        for path, params in widest.items():
            response = http.get(path, params=params)
            assert response.status_code == 200, (path, response.text)


# -- 3: a slug created twice at once -----------------------------------------------------------


def test_concurrent_creates_of_one_slug_make_one_team_and_409s(service, database) -> None:  # type: ignore[no-untyped-def]
    """The first create is held open while 20 more arrive: on PostgreSQL they find no team yet
    and wait on the unique index, then fail there; each must hear 409, never 500."""
    url, _ = service
    answers: list[httpx.Response] = []

    def create() -> None:
        body = raw_json({"slug": "racing", "budget_credits": 100})
        answers.append(post(f"{url}/api/teams", body, ADMIN))

    threads = [threading.Thread(target=create) for _ in range(20)]
    with database.write() as session:  # the one that wins, committed last
        teams.create_team(session, "racing", budget_credits=100)
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the others are in flight, waiting for this transaction
    for thread in threads:
        thread.join()
    assert len(answers) == 20
    for response in answers:
        refused(response, 409, "conflict", "already exists")
    with database.read() as session:
        assert session.scalar(select(func.count()).where(Team.slug == "racing")) == 1


# -- 4: a chunked body over 1 MiB --------------------------------------------------------------


def chunked(*parts: bytes) -> Iterator[bytes]:
    yield from parts  # httpx sends a generator with Transfer-Encoding: chunked


def test_a_chunked_body_over_one_mib_is_413_and_reserves_nothing(service, database) -> None:  # type: ignore[no-untyped-def]
    url, key = service
    create = b'{"end_seconds": 3}'
    padding = [b" " * 65536] * 32  # 2 MiB
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{url}/v1/image-to-video", content=chunked(create, *padding), headers=headers
        )
        assert response.request.headers.get("transfer-encoding") == "chunked"
        refused(response, 413, "payload_too_large")
        assert count(database, Job) == 0
        # A chunked body within the limit is read whole, as before.
        small = http.post(
            f"{url}/v1/image-to-video",
            content=chunked(create, b" " * 1000),
            headers={**headers, "X-Ledger-Dry-Run": "true"},
        )
        assert small.status_code == 200 and small.json()["estimated_credits"] == 144
        # Exactly 1 MiB is still allowed.
        exact = create + b" " * (1024 * 1024 - len(create))
        at_limit = http.post(
            f"{url}/v1/image-to-video",
            content=chunked(exact),
            headers={**headers, "X-Ledger-Dry-Run": "true"},
        )
        assert at_limit.status_code == 200
    assert count(database, Job) == 0


# -- 5: a doubled slash ------------------------------------------------------------------------


def raw_get(url: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A GET of exactly ``path`` (clients tend to tidy up paths; this does not)."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body


def test_a_doubled_slash_is_the_same_path_in_json(service) -> None:  # type: ignore[no-untyped-def]
    url, key = service
    auth = {"Authorization": f"Bearer {key}"}
    for path in ("//v1/account", "/v1//account", "//v1/nothing-here"):
        single = path.replace("//", "/")
        assert raw_get(url, path, auth)[0::2] == raw_get(url, single, auth)[0::2]
        status, headers, body = raw_get(url, path, {})
        assert status == 401 and headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"]["code"] == "unauthorized"
    status, headers, body = raw_get(url, "//v1/nothing-here", auth)
    assert status == 404 and json.loads(body)["error"]["code"] == "not_proxied"
    status, _, body = raw_get(url, "//api//teams", ADMIN)
    assert status == 200 and json.loads(body)["items"][0]["slug"] == "acme"


# -- 6: auth before a bad header ---------------------------------------------------------------


def test_a_bad_dry_run_header_from_a_stranger_is_401(service) -> None:  # type: ignore[no-untyped-def]
    url, key = service
    body = raw_json({"end_seconds": 3})
    for authorization in ({}, {"Authorization": "Bearer mhl_" + "x" * 43}):
        response = post(
            f"{url}/v1/image-to-video", body, {**authorization, "X-Ledger-Dry-Run": "maybe"}
        )
        refused(response, 401, "unauthorized")
    response = post(
        f"{url}/v1/image-to-video",
        body,
        {"Authorization": f"Bearer {key}", "X-Ledger-Dry-Run": "maybe"},
    )
    refused(response, 422, "invalid_request", "X-Ledger-Dry-Run")

"""Secrets stay secret, and hostile text stays text."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from ledger.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from tests.support.service import ADMIN_TOKEN, UPSTREAM_TOKEN

IMAGE = "api-assets/id/image.png"
HOSTILE = "<script>alert(1)</script>' OR 1=1;-- ../../etc/passwd %00"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_keys_and_tokens_are_not_in_the_database_file(make_app, database) -> None:  # type: ignore[no-untyped-def]
    api = make_app(magic_hour_api_key=UPSTREAM_TOKEN).test_client()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (
        api.post(
            "/api/teams", json={"slug": "acme", "budget_credits": 5}, headers=admin
        ).status_code
        == 201
    )
    secrets = [
        api.post("/api/teams/acme/keys", json={}, headers=admin).json["key"] for _ in range(3)
    ]
    database.dispose()  # checkpoint the WAL into the file, as it is at rest
    path = Path(database.url.database)
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in [*secrets, ADMIN_TOKEN, UPSTREAM_TOKEN]:
        assert secret.encode() not in stored
    # What is kept of a key is its hash and its first 12 characters, to tell keys apart.
    assert all(secret[:12].encode() in stored for secret in secrets)


def test_hostile_names_tags_and_slugs_stay_text(make_app) -> None:  # type: ignore[no-untyped-def]
    api = make_app().test_client()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = api.post(
        "/api/teams", json={"slug": "acme", "name": HOSTILE, "budget_credits": 5}, headers=admin
    )
    assert created.status_code == 201 and created.json["name"] == HOSTILE
    assert created.content_type == "application/json"
    for slug in ("../etc", "acme;drop", "ACME", "acme%00", "<b>"):
        response = api.post("/api/teams", json={"slug": slug, "budget_credits": 5}, headers=admin)
        assert response.status_code == 422, slug
        assert api.get(f"/api/teams/{slug}", headers=admin).status_code in (404, 422)
    listed = api.get("/api/teams", headers=admin).json["items"]
    assert [t["name"] for t in listed] == [HOSTILE]  # stored and returned verbatim, one row


def test_the_dashboard_is_served_with_a_strict_content_security_policy(make_app) -> None:  # type: ignore[no-untyped-def]
    page = make_app().test_client().get("/")
    page.get_data()
    page.close()
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_tokens_are_compared_in_constant_time(make_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The admin token and the webhook secret are compared with hmac.compare_digest (time
    independent of where they differ); a team key is looked up by its SHA-256, never compared
    as text."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    api = make_app(webhook_secret="hook-secret-for-tests").test_client()
    near_miss = ADMIN_TOKEN[:-1] + "?"
    assert (
        api.get("/api/teams", headers={"Authorization": f"Bearer {near_miss}"}).status_code == 401
    )
    assert (near_miss.encode(), ADMIN_TOKEN.encode()) in compared
    body = b'{"type": "video.completed", "payload": {"id": "x"}}'
    forged = signed_headers("hook-secret-for-test", body)  # one character short of the secret
    webhook = api.post("/webhooks/magic-hour", data=body, headers=forged)
    assert webhook.status_code == 401
    expected = signed_headers("hook-secret-for-tests", body, now=int(forged[TIMESTAMP_HEADER]))
    given = forged[SIGNATURE_HEADER].encode()
    assert (expected[SIGNATURE_HEADER].encode(), given) in compared

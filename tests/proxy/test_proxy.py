"""The proxy end to end: official SDK -> ledger (real HTTP) -> simulator (real HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from contextlib import ExitStack

import httpx
import magic_hour
import pytest
from sqlalchemy import text

from tests.support.service import ADMIN_TOKEN, UPSTREAM_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"


def i2v(client: magic_hour.Client, seconds: float = 5, **extra):  # type: ignore[no-untyped-def]
    return client.v1.image_to_video.create(
        assets={"image_file_path": IMAGE}, end_seconds=seconds, model="kling-3.0", **extra
    )


def test_create_holds_the_estimate_and_answers_like_magic_hour(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 1000)
    created = i2v(ledger.client(key, stack), 5)
    # kling-3.0 at 720p: 48 credits/s x 5 s
    assert created.credits_charged == 240 and created.id
    view = ledger.balance("acme")
    assert (view.held, view.available) == (240, 760)
    [job] = ledger.jobs("acme")
    assert (job.status, job.upstream_id, job.estimated_credits, job.kind) == (
        "submitted",
        created.id,
        240,
        "video",
    )
    assert ledger.creates_seen_upstream() == 1


def test_headers_tell_the_job_and_the_credits(ledger: Ledger) -> None:
    key = ledger.team("acme", 1000)
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3},
        headers={"Authorization": f"Bearer {key}", "X-Ledger-Tags": "project=launch,env=prod"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-ledger-job-id"].startswith("job_")
    # no model on creator at 720p: kling-3.0, 48 credits/s x 3 s
    assert response.headers["x-ledger-reserved-credits"] == "144"
    assert response.headers["x-ledger-available-credits"] == "856"
    [job] = ledger.jobs("acme")
    assert job.tags == {"project": "launch", "env": "prod"}


def test_generate_uploads_polls_downloads_and_settles(
    ledger: Ledger, stack: ExitStack, tmp_path
) -> None:
    key = ledger.team("acme", 1000)
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    result = ledger.client(key, stack).v1.image_to_video.generate(
        assets={"image_file_path": str(image)},
        end_seconds=4,
        model="ltx-2.3",
        download_directory=str(tmp_path),
    )
    assert result.status == "complete"
    assert os.path.getsize(result.downloaded_paths[0]) > 0
    # The proxy saw the terminal status while forwarding the SDK's poll: settled at once.
    [job] = ledger.jobs("acme")
    assert (job.status, job.charged_credits) == ("settled", result.credits_charged)
    view = ledger.balance("acme")
    assert (view.held, view.spent) == (0, result.credits_charged)


def test_the_async_client_works_unmodified(ledger: Ledger, tmp_path) -> None:
    key = ledger.team("acme", 1000)

    async def run() -> tuple:
        client = magic_hour.AsyncClient(token=key, base_url=ledger.url)
        created = await client.v1.image_to_video.create(
            assets={"image_file_path": IMAGE}, end_seconds=3
        )
        result = await client.v1.text_to_video.generate(
            end_seconds=4, style={"prompt": "waves"}, download_directory=str(tmp_path)
        )
        return created, result

    created, result = asyncio.run(run())
    # no model on creator at 720p: kling-3.0, 48 credits/s x 3 s
    assert created.credits_charged == 144 and result.status == "complete"
    assert {job.endpoint for job in ledger.jobs("acme")} == {"image-to-video", "text-to-video"}


def test_over_budget_is_refused_with_402_and_nothing_reaches_upstream(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 100)
    with pytest.raises(magic_hour.ApiError) as refused:
        i2v(ledger.client(key, stack), 5)
    assert refused.value.status_code == 402
    # kling-3.0 at 720p: 48 credits/s x 5 s
    assert refused.value.body == {
        "error": {
            "code": "budget_exceeded",
            "message": "estimated 240 credits exceed the 100 available to team acme",
            "team": "acme",
            "estimated_credits": 240,
            "available_credits": 100,
        }
    }
    assert ledger.creates_seen_upstream() == 0
    assert ledger.jobs("acme") == [] and ledger.balance("acme").available == 100


def test_a_request_exactly_at_the_available_credits_is_accepted(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 240)  # kling-3.0 at 720p: 48 credits/s x 5 s
    assert i2v(ledger.client(key, stack), 5).credits_charged == 240
    assert ledger.balance("acme").available == 0


@pytest.mark.parametrize("token", [None, "mhl_" + "x" * 43, "not-a-key"])
def test_a_missing_or_wrong_key_gets_401(ledger: Ledger, stack: ExitStack, token) -> None:
    ledger.team("acme", 1000)
    with pytest.raises(magic_hour.ApiError) as refused:
        i2v(ledger.client(token, stack))
    assert refused.value.status_code == 401
    assert refused.value.body["error"]["code"] == "unauthorized"
    assert ledger.creates_seen_upstream() == 0


def test_a_revoked_key_gets_401_at_once(ledger: Ledger, stack: ExitStack) -> None:
    from ledger import teams

    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    i2v(client)
    with ledger.database.write() as session:
        [stored] = teams.list_keys(session, "acme")
        teams.revoke_key(session, stored.id)
    with pytest.raises(magic_hour.ApiError) as refused:
        i2v(client)
    assert refused.value.status_code == 401


def test_another_team_cannot_read_or_delete_a_project(ledger: Ledger, stack: ExitStack) -> None:
    a = ledger.client(ledger.team("team-a", 1000), stack)
    b = ledger.client(ledger.team("team-b", 1000), stack)
    created = i2v(a)
    assert a.v1.video_projects.get(id=created.id).id == created.id
    errors = []
    for call in (
        lambda: b.v1.video_projects.get(id=created.id),
        lambda: b.v1.video_projects.delete(id=created.id),
        lambda: b.v1.video_projects.get(id="no-such-project"),
        lambda: a.v1.image_projects.get(id=created.id),  # right team, wrong kind
    ):
        with pytest.raises(magic_hour.ApiError) as refused:
            call()
        errors.append((refused.value.status_code, refused.value.body))
    # Someone else's project looks exactly like one that does not exist.
    assert errors == [(404, {"error": {"code": "not_found", "message": "no such project"}})] * 4
    a.v1.video_projects.delete(id=created.id)


@pytest.mark.parametrize("status", [400, 422, 500, 503])
def test_an_upstream_error_status_releases_the_hold(
    ledger: Ledger, stack: ExitStack, status: int
) -> None:
    key = ledger.team("acme", 1000)
    ledger.simulator.set_faults(error_rate=1.0, error_status=status, scope="create")
    with pytest.raises(magic_hour.ApiError) as failed:
        i2v(ledger.client(key, stack))
    assert failed.value.status_code == status  # upstream's status, passed through
    [job] = ledger.jobs("acme")
    assert job.status == "released"
    assert ledger.balance("acme").available == 1000


def test_an_upstream_validation_error_is_passed_through_and_released(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    with pytest.raises(magic_hour.ApiError) as refused:
        # kling-2.6 renders only 5 or 10 seconds: upstream refuses; our estimate did not care.
        client.v1.image_to_video.create(
            assets={"image_file_path": IMAGE}, end_seconds=7, model="kling-2.6"
        )
    assert refused.value.status_code == 422
    assert "end_seconds" in str(refused.value.body)
    [job] = ledger.jobs("acme")
    assert job.status == "released" and ledger.balance("acme").available == 1000


def test_a_429_passes_retry_after_and_releases(ledger: Ledger) -> None:
    key = ledger.team("acme", 1000)
    ledger.simulator.set_faults(rate_limit_rate=1.0, retry_after=7, scope="create")
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert ledger.balance("acme").available == 1000


@pytest.mark.parametrize(
    "fault", [{"timeout_rate": 1.0, "timeout_seconds": 10}, {"drop_rate": 1.0}]
)
def test_no_answer_from_upstream_keeps_the_hold_as_unknown(
    make_ledger, stack: ExitStack, fault
) -> None:
    ledger = make_ledger(upstream_timeout=0.5)
    key = ledger.team("acme", 1000)
    ledger.simulator.set_faults(**fault, scope="create")
    with pytest.raises(magic_hour.ApiError) as unknown:
        i2v(ledger.client(key, stack))
    assert unknown.value.status_code == 504
    assert unknown.value.body["error"]["code"] == "upstream_unknown"
    [job] = ledger.jobs("acme")
    # kling-3.0 at 720p: 48 credits/s x 5 s
    assert (job.status, job.held_credits, job.upstream_id) == ("unknown", 240, None)
    assert ledger.balance("acme").held == 240
    assert len(ledger.simulator.jobs()) == 1  # it did exist upstream: holding was right


def test_upstream_unreachable_releases_with_502(make_ledger, stack: ExitStack) -> None:
    ledger = make_ledger()
    key = ledger.team("acme", 1000)
    services = ledger.app.extensions["ledger"]
    from ledger.upstream import Upstream

    services.proxy.upstream = Upstream("http://127.0.0.1:9", UPSTREAM_TOKEN, timeout=1)
    with pytest.raises(magic_hour.ApiError) as failed:
        i2v(ledger.client(key, stack))
    assert failed.value.status_code == 502
    assert failed.value.body["error"]["code"] == "upstream_error"
    [job] = ledger.jobs("acme")
    assert job.status == "released" and ledger.balance("acme").available == 1000


def test_an_idempotent_retry_creates_one_upstream_job(ledger: Ledger) -> None:
    key = ledger.team("acme", 1000)
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "render-42"}
    body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3}
    first = httpx.post(f"{ledger.url}/v1/image-to-video", json=body, headers=headers)
    again = httpx.post(f"{ledger.url}/v1/image-to-video", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-ledger-job-id"] == first.headers["x-ledger-job-id"]
    assert ledger.creates_seen_upstream() == 1 and len(ledger.jobs("acme")) == 1
    other = httpx.post(
        f"{ledger.url}/v1/image-to-video", json={**body, "end_seconds": 4}, headers=headers
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "invalid_request"
    # the first create only: kling-3.0 at 720p, 48 credits/s x 3 s
    assert ledger.creates_seen_upstream() == 1 and ledger.balance("acme").held == 144


def test_an_idempotent_retry_after_an_unknown_outcome_does_not_send_again(
    make_ledger,
) -> None:
    ledger = make_ledger(upstream_timeout=0.5)
    key = ledger.team("acme", 1000)
    ledger.simulator.set_faults(drop_rate=1.0, scope="create")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"}
    body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3}
    statuses = [
        httpx.post(f"{ledger.url}/v1/image-to-video", json=body, headers=headers).status_code
        for _ in range(3)
    ]
    assert statuses == [504, 504, 504]
    assert len(ledger.simulator.jobs()) == 1


def test_dry_run_reserves_and_sends_nothing(ledger: Ledger) -> None:
    key = ledger.team("acme", 200)
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        json={"assets": {"image_file_path": IMAGE}, "end_seconds": 10},
        headers={"Authorization": f"Bearer {key}", "X-Ledger-Dry-Run": "true"},
    )
    assert response.status_code == 200
    # no model on creator at 720p: kling-3.0, 48 credits/s x 10 s
    assert response.json() == {
        "estimated_credits": 480,
        "available_credits": 200,
        "fits": False,
        "basis": "table",
        "endpoint": "image-to-video",
        "model": "kling-3.0",
        "resolution": "720p",
        "audio": False,
    }
    assert ledger.jobs("acme") == [] and ledger.creates_seen_upstream() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "must be a JSON object"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"assets": {"image_file_path": "x"}}', "end_seconds"),
        (b'{"assets": {"image_file_path": "x"}, "end_seconds": -1}', "end_seconds"),
        (b'{"assets": {"image_file_path": "x"}, "end_seconds": NaN}', "must be a JSON object"),
        (b'{"assets": {"image_file_path": "x"}, "end_seconds": true}', "end_seconds"),
    ],
)
def test_a_bad_body_gets_422_and_reserves_nothing(ledger: Ledger, body: bytes, message) -> None:
    key = ledger.team("acme", 1000)
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        content=body,
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert message in response.json()["error"]["message"]
    assert ledger.jobs("acme") == [] and ledger.creates_seen_upstream() == 0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Ledger-Tags": "no-equals-sign"}, "X-Ledger-Tags"),
        ({"Idempotency-Key": "x" * 256}, "Idempotency-Key"),
        ({"X-Ledger-Dry-Run": "perhaps"}, "X-Ledger-Dry-Run"),
    ],
)
def test_bad_headers_get_422_and_reserve_nothing(ledger: Ledger, headers, message) -> None:
    key = ledger.team("acme", 1000)
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        json={"assets": {"image_file_path": IMAGE}, "end_seconds": 3},
        headers={"Authorization": f"Bearer {key}", **headers},
    )
    assert response.status_code == 422 and message in response.json()["error"]["message"]
    assert ledger.jobs("acme") == []


def test_a_huge_body_gets_413(ledger: Ledger) -> None:
    key = ledger.team("acme", 1000)
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        content=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/not-a-tool"),
        ("DELETE", "/v1/face-detection/abc"),
        ("POST", "/v1/face-detection/abc"),
        ("PUT", "/v1/image-to-video"),
        ("GET", "/v1/files/upload-urls"),
    ],
)
def test_everything_else_under_v1_is_not_proxied(ledger: Ledger, method: str, path: str) -> None:
    key = ledger.team("acme", 1000)
    response = httpx.request(method, ledger.url + path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code in (404, 405)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] in ("not_proxied", "method_not_allowed")
    assert ledger.creates_seen_upstream() == 0


def test_account_shows_the_team_s_available_credits(ledger: Ledger, stack: ExitStack) -> None:
    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    i2v(client, 3)
    assert client.v1.account.list().credits == 856  # 1000 - kling-3.0 at 48 credits/s x 3 s


def test_an_unknown_path_outside_v1_is_a_json_404(ledger: Ledger) -> None:
    response = httpx.get(f"{ledger.url}/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_team_key_never_reaches_upstream(ledger: Ledger, stack: ExitStack) -> None:
    # The simulator was started accepting only the company token: a forwarded team key would
    # have been refused with 401.
    key = ledger.team("acme", 1000)
    assert i2v(ledger.client(key, stack)).id


def test_creates_get_503_and_reach_nothing_when_the_database_is_down(
    ledger: Ledger, stack: ExitStack, backend: str
) -> None:
    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    with database_down(ledger, backend):
        with pytest.raises(magic_hour.ApiError) as unavailable:
            i2v(client)
        assert unavailable.value.status_code == 503
        assert unavailable.value.body["error"]["code"] == "unavailable"
    assert ledger.creates_seen_upstream() == 0
    assert i2v(client).id  # and it recovers by itself


class database_down:
    """SQLite: another process holds the write lock. PostgreSQL: the database refuses
    connections and every open one is cut, as when the server stops."""

    def __init__(self, ledger: Ledger, backend: str) -> None:
        self.ledger, self.backend = ledger, backend

    def __enter__(self) -> None:
        url = self.ledger.database.url
        if self.backend == "sqlite":
            import sqlite3

            self.locker = sqlite3.connect(url.database, isolation_level=None)
            self.locker.execute("BEGIN EXCLUSIVE")
            return
        from sqlalchemy import create_engine

        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": url.database},
            )

    def __exit__(self, *exc: object) -> None:
        if self.backend == "sqlite":
            self.locker.rollback() if self.locker.in_transaction else None
            self.locker.close()
            return
        with self.admin.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{self.ledger.database.url.database}" ALLOW_CONNECTIONS true')
            )
        self.admin.dispose()


def test_a_client_that_hangs_up_mid_request_leaves_no_orphan_hold(ledger: Ledger) -> None:
    key = ledger.team("acme", 1000)
    ledger.simulator.set_faults(slow_rate=1.0, slow_seconds=1.0, scope="create")
    body = json.dumps({"assets": {"image_file_path": IMAGE}, "end_seconds": 3}).encode()
    host, port = ledger.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(
            b"POST /v1/image-to-video HTTP/1.1\r\nHost: ledger\r\n"
            + f"Authorization: Bearer {key}\r\n".encode()
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        # Once the hold is taken ledger is calling upstream (1 s): the client hangs up then.
        deadline = time.monotonic() + 10
        while not ledger.jobs("acme") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ledger.jobs("acme"), "the hold was never taken"
    deadline = time.monotonic() + 10
    while ledger.jobs("acme")[0].status == "reserved" and time.monotonic() < deadline:
        time.sleep(0.05)
    # ledger finished the call on its own: the job has its project and its hold follows it.
    [job] = ledger.jobs("acme")
    assert job.status == "submitted" and job.upstream_id == ledger.simulator.jobs()[0]["id"]
    assert ledger.balance("acme").held == 144  # kling-3.0 at 720p: 48 credits/s x 3 s


def test_metrics_count_calls_and_show_money(make_ledger, stack: ExitStack) -> None:  # type: ignore[no-untyped-def]
    ledger = make_ledger(metrics_token="scraper-token")
    key = ledger.team("acme", 1000)
    i2v(ledger.client(key, stack), 5)  # kling-3.0 at 720p: 48 credits/s x 5 s = 240
    with pytest.raises(magic_hour.ApiError):
        i2v(ledger.client(key, stack), 50)  # over budget: 48 x 50 = 2400
    # The page names every team and its spend: a stranger or a team key is refused.
    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"Authorization": "Bearer wrong"}):
        refused = httpx.get(f"{ledger.url}/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert "acme" not in refused.text
    admin = httpx.get(f"{ledger.url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status_code == 200 and 'ledger_credits_held{team="acme"}' in admin.text
    scraper = {"Authorization": "Bearer scraper-token"}
    text = httpx.get(f"{ledger.url}/metrics", headers=scraper).text
    assert 'ledger_proxy_requests_total{endpoint="image-to-video",outcome="accepted"}' in text
    assert (
        'ledger_proxy_requests_total{endpoint="image-to-video",outcome="budget_exceeded"}' in text
    )
    assert 'ledger_credits_held{team="acme"} 240.0' in text
    assert 'ledger_credits_available{team="acme"} 760.0' in text
    assert 'ledger_holds_open{team="acme"} 1.0' in text
    assert "ledger_reconcile_lag_seconds" in text

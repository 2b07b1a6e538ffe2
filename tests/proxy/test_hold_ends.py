"""A hold ends as soon as its outcome is known, and a replay answers what the first request
ended with (issue 16): a failed alert write never stops a create; a request interrupted by a
crash replays as unknown once it is, and as the admin's resolution after one."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from ledger import accounting, teams
from ledger.accounting import holds
from ledger.models import Job, JobStatus, utcnow
from ledger.proxy_input import hash_of_request
from ledger.reconcile import Reconciler, resolve_unknown
from ledger.upstream import Upstream
from tests.support.service import UPSTREAM_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"
CREATE = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3, "model": "kling-3.0"}


def post(ledger: Ledger, key: str, idempotency_key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return httpx.post(f"{ledger.url}/v1/image-to-video", json=CREATE, headers=headers)


def test_a_failed_alert_write_never_stops_a_create(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ledger.team("acme", 200, alert_thresholds=[50])  # 144 of 200 crosses 50 %

    def refused(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO alerts", {}, Exception("connection refused"))

    monkeypatch.setattr(holds, "_alert_on_rise", refused)  # where hold_for_key finds it
    answer = post(ledger, key)
    assert answer.status_code == 200, answer.text
    assert ledger.creates_seen_upstream() == 1  # the create went out
    [job] = ledger.jobs("acme")
    assert (job.status, job.upstream_id) == ("submitted", answer.json()["id"])
    assert ledger.balance("acme").held == 144


def crashed_request(ledger: Ledger, key_name: str) -> str:
    """A job whose request held its credits and then died before anything was recorded."""
    with ledger.database.write() as session:
        team = teams.get_team(session, "acme")
        job = accounting.reserve(
            session,
            team.id,
            144,
            endpoint="image-to-video",
            kind="video",
            idempotency_key=key_name,
            request_hash=hash_of_request("image-to-video", dict(CREATE)),
        )
        return job.id


def tidy(ledger: Ledger) -> None:
    """The sweep, far enough in the future that a reserved job without answer is unknown."""
    upstream = Upstream(ledger.simulator.url, UPSTREAM_TOKEN, timeout=5)
    try:
        Reconciler(ledger.database, upstream, poll_interval=0.05).sweep(
            now=utcnow() + timedelta(hours=1)
        )
    finally:
        upstream.close()


def test_a_replay_of_a_crashed_request_answers_unknown_then_the_resolution(
    ledger: Ledger,
) -> None:
    key = ledger.team("acme", 1_000)
    job_id = crashed_request(ledger, "retry-me")
    in_flight = post(ledger, key, "retry-me")
    assert in_flight.status_code == 409  # still reserved: it may yet be running

    tidy(ledger)
    assert ledger.jobs("acme")[0].status == JobStatus.UNKNOWN.value
    unknown = post(ledger, key, "retry-me")
    assert unknown.status_code == 504
    assert unknown.json()["error"]["code"] == "upstream_unknown"
    assert unknown.json()["error"]["job_id"] == job_id
    assert unknown.headers["x-ledger-job-id"] == job_id
    assert ledger.creates_seen_upstream() == 0  # never sent again

    # An admin found its project: the replay now answers the create Magic Hour made.
    made = ledger.simulator.create_outside("image-to-video", dict(CREATE))
    resolve_unknown(ledger.database, job_id, upstream_id=made["id"])
    resolved = post(ledger, key, "retry-me")
    assert resolved.status_code == 200
    assert resolved.json()["id"] == made["id"]
    assert resolved.json()["credits_charged"] == resolved.json()["estimated_frame_cost"] == 144


def test_a_replay_after_an_admin_released_the_unknown_job_says_nothing_was_charged(
    ledger: Ledger,
) -> None:
    key = ledger.team("acme", 1_000)
    job_id = crashed_request(ledger, "gone")
    tidy(ledger)
    resolve_unknown(ledger.database, job_id, upstream_id=None)
    answer = post(ledger, key, "gone")
    assert answer.status_code == 502
    assert "nothing was charged" in answer.json()["error"]["message"]
    assert ledger.balance("acme").held == 0


def test_a_refused_create_whose_release_first_fails_is_released_by_a_retry(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the release just after Magic Hour refused the create: the hold
    still ends, within seconds, without waiting for reconciliation."""
    key = ledger.team("acme", 1_000)
    ledger.simulator.set_faults(error_rate=1.0, error_status=422, scope="create")
    real_release = accounting.release
    failures = {"left": 2}

    def flaky_release(session, job_id, **kwargs):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE balances", {}, Exception("server closed the connection"))
        return real_release(session, job_id, **kwargs)

    monkeypatch.setattr(accounting, "release", flaky_release)
    answer = post(ledger, key)
    assert answer.status_code == 422  # Magic Hour's answer, passed through
    deadline = time.monotonic() + 10
    while ledger.balance("acme").held and time.monotonic() < deadline:
        time.sleep(0.05)
    [job] = ledger.jobs("acme")
    assert (job.status, job.held_credits, job.response_status) == ("released", 0, 422)
    assert ledger.balance("acme").available == 1_000


def test_replays_of_finished_requests_are_unchanged(ledger: Ledger) -> None:
    key = ledger.team("acme", 1_000)
    first = post(ledger, key, "same")
    again = post(ledger, key, "same")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    with ledger.database.write() as session:  # not an admin resolution: the stored answer
        session.execute(update(Job).values(flag="overrun"))
    assert post(ledger, key, "same").json() == first.json()

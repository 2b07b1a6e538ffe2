"""Magic Hour's own account out of credits (it answers a create 402): the caller hears ledger's
own error, the hold is released at once, and the admins are alerted once per episode.

The official SDK -> ledger (real HTTP) -> the simulator (real HTTP), made to answer creates
402 by its fault injection (``error_status=402``).
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import httpx
import magic_hour
import pytest

from tests.support.service import ADMIN_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BODY = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3, "model": "kling-3.0"}


def run_dry(ledger: Ledger) -> None:
    ledger.simulator.set_faults(error_rate=1.0, error_status=402, scope="create")


def top_up(ledger: Ledger) -> None:
    ledger.simulator.set_faults(error_rate=0.0)


def i2v(client: magic_hour.Client) -> magic_hour.types.models.V1ImageToVideoCreateResponse:
    return client.v1.image_to_video.create(
        assets={"image_file_path": IMAGE}, end_seconds=3, model="kling-3.0"
    )


def credit_alerts(ledger: Ledger) -> list[dict]:
    alerts = httpx.get(f"{ledger.url}/api/alerts", headers=ADMIN).json()["items"]
    return [a for a in alerts if a["kind"] == "upstream_credits"]


def metric(ledger: Ledger, name: str) -> float:
    text = httpx.get(f"{ledger.url}/metrics", headers=ADMIN).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_the_caller_hears_ledger_s_own_error_and_nothing_is_held(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    refusals_before = metric(ledger, "ledger_upstream_credits_exhausted_total")
    run_dry(ledger)
    with pytest.raises(magic_hour.ApiError) as refused:
        i2v(client)
    # 503, not 402: this is not the team's budget (that is 402 budget_exceeded).
    assert refused.value.status_code == 503
    error = refused.value.body["error"]
    assert error["code"] == "upstream_credits_exhausted"
    assert error["upstream_message"] == "Simulated upstream error."  # Magic Hour's words, kept
    assert "out of credits" in error["message"] and "Simulated upstream error." in error["message"]
    assert (error["team"], error["estimated_credits"], error["upstream_status"]) == (
        "acme",
        144,
        402,
    )
    [job] = ledger.jobs("acme")
    assert (job.id, job.status, job.held_credits) == (error["job_id"], "released", 0)
    view = ledger.balance("acme")
    assert (view.held, view.spent, view.available) == (0, 0, 1000)
    # One alert for the admins, of the whole account (no team), through the outbox.
    [alert] = credit_alerts(ledger)
    assert alert["team"] is None and alert["job_id"] == job.id
    assert alert["details"]["upstream_message"] == "Simulated upstream error."
    assert metric(ledger, "ledger_upstream_credits_exhausted_total") == refusals_before + 1
    assert metric(ledger, "ledger_upstream_credits_exhausted") == 1.0


def test_one_alert_per_episode(ledger: Ledger, stack: ExitStack) -> None:
    acme = ledger.client(ledger.team("acme", 10_000), stack)
    other = ledger.client(ledger.team("other", 10_000), stack)
    run_dry(ledger)
    for client in (acme, other, acme):
        with pytest.raises(magic_hour.ApiError) as refused:
            i2v(client)
        assert refused.value.body["error"]["code"] == "upstream_credits_exhausted"
    assert len(credit_alerts(ledger)) == 1  # three refusals, two teams: one episode
    top_up(ledger)
    assert i2v(other).id  # Magic Hour accepts again: the episode is over
    assert metric(ledger, "ledger_upstream_credits_exhausted") == 0.0
    run_dry(ledger)
    with pytest.raises(magic_hour.ApiError):
        i2v(acme)
    first, second = sorted(credit_alerts(ledger), key=lambda a: a["id"])
    assert first["details"]["episode"] != second["details"]["episode"]
    assert [job.status for job in ledger.jobs("acme")] == ["released"] * 3
    assert ledger.balance("acme").available == 10_000


def test_a_replay_of_a_refused_create_answers_the_same_without_calling_again(
    ledger: Ledger,
) -> None:
    key = ledger.team("acme", 1000)
    run_dry(ledger)
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "dry-1"}
    first = httpx.post(f"{ledger.url}/v1/image-to-video", json=BODY, headers=headers)
    again = httpx.post(f"{ledger.url}/v1/image-to-video", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 503
    assert again.json() == first.json()
    assert again.json()["error"]["code"] == "upstream_credits_exhausted"
    assert ledger.simulator.state()["counters"]["POST /v1/image-to-video"] == 1
    assert ledger.balance("acme").available == 1000


def test_other_upstream_refusals_still_pass_through(ledger: Ledger, stack: ExitStack) -> None:
    key = ledger.team("acme", 1000)
    ledger.simulator.set_faults(error_rate=1.0, error_status=422, scope="create")
    with pytest.raises(magic_hour.ApiError) as refused:
        i2v(ledger.client(key, stack))
    assert refused.value.status_code == 422
    assert refused.value.body == {"message": "Simulated upstream error.", "code": "simulated_error"}
    assert credit_alerts(ledger) == [] and ledger.balance("acme").available == 1000


def test_when_the_simulated_account_runs_out(make_ledger) -> None:  # type: ignore[no-untyped-def]
    """The simulator's own account, too small for the create: Magic Hour's 402 as it sends it."""
    ledger = make_ledger(start_credits=100)
    key = ledger.team("acme", 1000)
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video", json=BODY, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["code"], error["upstream_message"]) == (
        "upstream_credits_exhausted",
        "Payment required",
    )
    assert ledger.balance("acme").available == 1000 and len(credit_alerts(ledger)) == 1

"""Each fault does what its option says, set at start or changed at run time."""

from __future__ import annotations

import time
from typing import Any

import httpx
import magic_hour
import pytest

from ledger.simulator.options import Faults
from ledger.simulator.testing import SimulatorHandle

I2V = {"assets": {"image_file_path": "api-assets/id/a.png"}, "end_seconds": 5.0}
AUTH = {"Authorization": "Bearer t"}


def test_rate_limit_answers_429_with_retry_after_and_creates_nothing(make_simulator: Any):
    simulator = make_simulator(faults=Faults(rate_limit_rate=1.0, retry_after=7))
    response = httpx.post(f"{simulator.url}/v1/image-to-video", json=I2V, headers=AUTH)
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.headers["content-type"] == "application/json"
    state = simulator.state()
    assert state["jobs"]["total"] == 0 and state["account"]["credits"] == 1_000_000
    assert state["counters"]["fault:rate_limit"] == 1


def test_error_status_is_configurable_and_creates_nothing(make_simulator: Any, sdk: Any):
    simulator = make_simulator(faults=Faults(error_rate=1.0, error_status=503))
    client = sdk(simulator.url, "t")
    with pytest.raises(magic_hour.ApiError) as failed:
        client.v1.image_to_video.create(**I2V)
    assert failed.value.status_code == 503 and failed.value.body["code"] == "simulated_error"
    assert simulator.state()["jobs"]["total"] == 0


def test_drop_creates_and_charges_but_never_answers(make_simulator: Any, sdk: Any):
    simulator = make_simulator(faults=Faults(drop_rate=1.0))
    client = sdk(simulator.url, "t")
    with pytest.raises(httpx.RemoteProtocolError):
        client.v1.image_to_video.create(**I2V)
    [job] = simulator.jobs()
    assert job["fault"] == "drop" and job["estimated_credits"] == 240  # kling-3.0 720p 5 s
    assert simulator.state()["account"]["credits"] == 1_000_000 - 240


def test_timeout_holds_the_response_past_the_client_timeout(make_simulator: Any, sdk: Any):
    simulator = make_simulator(faults=Faults(timeout_rate=1.0, timeout_seconds=30))
    client = sdk(simulator.url, "t")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.v1.image_to_video.create(**I2V, request_options={"timeout": 0.3})
    assert time.monotonic() - started < 5
    [job] = simulator.jobs()
    assert job["fault"] == "timeout"  # it exists and is charged: the outcome is unknown upstream


def test_slow_answers_after_the_delay(make_simulator: Any, sdk: Any):
    simulator = make_simulator(faults=Faults(slow_rate=1.0, slow_seconds=0.4))
    client = sdk(simulator.url, "t")
    started = time.monotonic()
    created = client.v1.image_to_video.create(**I2V)
    assert time.monotonic() - started >= 0.4
    assert simulator.job(created.id)["fault"] == "slow"


def test_scope_get_leaves_creates_alone(make_simulator: Any, sdk: Any):
    simulator = make_simulator(faults=Faults(error_rate=1.0, scope="get"))
    client = sdk(simulator.url, "t")
    created = client.v1.image_to_video.create(**I2V)
    with pytest.raises(magic_hour.ApiError) as failed:
        client.v1.video_projects.get(id=created.id)
    assert failed.value.status_code == 500


def test_faults_change_at_run_time_without_restart(simulator: SimulatorHandle, sdk: Any):
    client = sdk(simulator.url, "t")
    client.v1.image_to_video.create(**I2V)
    assert simulator.set_faults(rate_limit_rate=1.0, retry_after=3)["rate_limit_rate"] == 1.0
    with pytest.raises(magic_hour.ApiError) as limited:
        client.v1.image_to_video.create(**I2V)
    assert limited.value.status_code == 429
    simulator.clear_faults()
    client.v1.image_to_video.create(**I2V)
    assert simulator.state()["jobs"]["total"] == 2


def test_fault_rates_are_rates(make_simulator: Any):
    simulator = make_simulator(faults=Faults(error_rate=0.5))
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        outcomes = [
            http.post(
                "/v1/ai-meme-generator", json={"style": {"template": "Random", "topic": "x"}}
            ).status_code
            for _ in range(200)
        ]
    assert 60 < outcomes.count(500) < 140 and outcomes.count(500) + outcomes.count(200) == 200
    assert simulator.state()["jobs"]["total"] == outcomes.count(200)


def test_bad_fault_settings_are_refused(simulator: SimulatorHandle):
    for change in ({"error_rate": 2}, {"scope": "everything"}, {"nope": 1}):
        response = httpx.patch(f"{simulator.url}/_simulator/faults", json=change)
        assert response.status_code == 422, change


def test_reset_forgets_jobs_and_restores_faults(make_simulator: Any, sdk: Any):
    simulator = make_simulator(faults=Faults(slow_rate=0.0))
    client = sdk(simulator.url, "t")
    client.v1.image_to_video.create(**I2V)
    simulator.set_faults(error_rate=1.0)
    simulator.reset()
    state = simulator.state()
    assert state["jobs"]["total"] == 0 and state["counters"] == {}
    assert state["faults"]["error_rate"] == 0.0 and state["account"]["credits"] == 1_000_000

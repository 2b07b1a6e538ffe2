"""Projects over time: statuses, cost drift, failures with refunds, cancels and the account
balance, as a client and the upstream's own records see them (webhooks: ``test_webhooks``)."""

from __future__ import annotations

import time
from typing import Any

import magic_hour
import pytest

from ledger.simulator.testing import SimulatorHandle

I2V = {"assets": {"image_file_path": "api-assets/id/a.png"}, "end_seconds": 5}


def test_status_goes_queued_rendering_complete(make_simulator: Any, sdk: Any):
    # 1 s queued, then 2 + 0.5 x 5 s rendering, at 1/20 speed, no jitter
    simulator = make_simulator(time_scale=0.05, jitter=0.0)
    client = sdk(simulator.url, "t")
    project_id = client.v1.image_to_video.create(**I2V).id
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = client.v1.video_projects.get(id=project_id).status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "complete":
            break
        time.sleep(0.01)
    assert seen == ["queued", "rendering", "complete"]


# renders of a 10 s clip take about 0.4 s: time to see one before it ends
SLOWER = {"time_scale": 0.05}
KLING_10S = {**I2V, "end_seconds": 10, "model": "kling-3.0", "resolution": "720p"}


def _create_then_final(simulator: SimulatorHandle, client: magic_hour.Client) -> tuple:
    """(create charge, GET while rendering, GET at the end, fps while rendering, fps at the end)."""
    created = client.v1.image_to_video.create(**KLING_10S)
    early = client.v1.video_projects.get(id=created.id)
    assert early.status in ("queued", "rendering")
    simulator.wait_until_settled()
    done = client.v1.video_projects.get(id=created.id)
    assert done.status == "complete" and done.credits_charged == done.total_frame_cost
    return created.credits_charged, early.credits_charged, done.credits_charged, early.fps, done.fps


def test_published_create_charge_is_final(make_simulator: Any, sdk: Any):
    simulator = make_simulator(**SLOWER)
    assert _create_then_final(simulator, sdk(simulator.url, "t")) == (480, 480, 480, 24.0, 24.0)


def test_30fps_create_charge_is_an_estimate_corrected_at_the_end(make_simulator: Any, sdk: Any):
    simulator = make_simulator(create_charge="30fps", **SLOWER)
    client = sdk(simulator.url, "t")
    # 48/s x 10 s x 30/24 at create, then the published 480
    assert _create_then_final(simulator, client) == (600, 600, 480, 30.0, 24.0)
    assert client.v1.account.list().credits == 1_000_000 - 480
    # seedance-1.5 renders at 30 fps: its estimate is its price; lip-sync is not affected
    seedance = client.v1.image_to_video.create(
        **{**KLING_10S, "model": "seedance-1.5", "end_seconds": 5}
    )
    lips = client.v1.lip_sync.create(
        assets={
            "audio_file_path": "api-assets/a.mp3",
            "video_source": "file",
            "video_file_path": "api-assets/v.mp4",
        },
        start_seconds=0,
        end_seconds=2,
    )
    assert (seedance.credits_charged, lips.credits_charged) == (300, 60)


def test_price_change_multiplies_create_and_final_charges(make_simulator: Any, sdk: Any):
    simulator = make_simulator(price_changes=(("kling-3.0", 1.25),), **SLOWER)
    client = sdk(simulator.url, "t")
    assert _create_then_final(simulator, client) == (600, 600, 600, 24.0, 24.0)
    # any endpoint on that model; other models keep their price
    ugc = client.v1.ai_ugc_ad.create(
        assets={"image_file_path": "api-assets/a.png"}, end_seconds=10, script="buy it"
    )
    ltx = client.v1.image_to_video.create(**{**KLING_10S, "model": "ltx-2.3"})
    assert (ugc.credits_charged, ltx.credits_charged) == (900, 480)  # 72 x 10 x 1.25; 48 x 10
    estimating = make_simulator(
        price_changes=(("kling-3.0", 1.25),), create_charge="30fps", **SLOWER
    )
    assert _create_then_final(estimating, sdk(estimating.url, "t")) == (750, 750, 600, 30.0, 24.0)


def test_failed_and_canceled_renders_drop_to_zero_after_a_30fps_create(
    make_simulator: Any, sdk: Any
):
    failing = make_simulator(create_charge="30fps", job_error_rate=1.0)
    client = sdk(failing.url, "t")
    created = client.v1.image_to_video.create(**KLING_10S)
    assert created.credits_charged == 600
    failing.wait_until_settled()
    assert client.v1.video_projects.get(id=created.id).credits_charged == 0
    canceling = make_simulator(create_charge="30fps", time_scale=1.0)
    client = sdk(canceling.url, "t")
    created = client.v1.image_to_video.create(**KLING_10S)
    canceling.cancel(created.id)
    assert client.v1.video_projects.get(id=created.id).credits_charged == 0
    assert client.v1.account.list().credits == 1_000_000


def test_state_shows_the_pricing_options(make_simulator: Any):
    simulator = make_simulator(create_charge="30fps", price_changes=(("veo3.1", 2.0),))
    options = simulator.state()["options"]
    assert options["create_charge"] == "30fps" and options["price_changes"] == {"veo3.1": 2.0}
    assert make_simulator(**SLOWER).state()["options"]["create_charge"] == "published"


def test_drifted_renders_are_charged_for_their_frame_rate(make_simulator: Any, sdk: Any):
    simulator = make_simulator(drift_rate=1.0, drift_fps=(25.0,), **SLOWER)
    client = sdk(simulator.url, "t")
    # image-to-video: 480 x 25/24, rounded up
    assert _create_then_final(simulator, client) == (480, 480, 500, 24.0, 25.0)
    lips = client.v1.lip_sync.create(
        assets={
            "audio_file_path": "api-assets/a.mp3",
            "video_source": "file",
            "video_file_path": "api-assets/v.mp4",
        },
        start_seconds=0,
        end_seconds=2,
    )
    assert lips.credits_charged == 60  # 30 fps x 2 s at create
    simulator.wait_until_settled()
    assert client.v1.video_projects.get(id=lips.id).credits_charged == 50  # 25 fps x 2 s
    # fixed-price tools never drift
    image = client.v1.photo_colorizer.create(assets={"image_file_path": "api-assets/a.png"})
    simulator.wait_until_settled()
    assert client.v1.image_projects.get(id=image.id).credits_charged == 10


def test_failed_render_is_refunded(make_simulator: Any, sdk: Any):
    simulator = make_simulator(job_error_rate=1.0)
    client = sdk(simulator.url, "t")
    video = client.v1.text_to_video.create(end_seconds=5, style={"prompt": "x"})
    audio = client.v1.ai_music_generator.create(duration=60, style={"prompt": "x"})
    assert client.v1.account.list().credits == 1_000_000 - 240 - 60  # kling-3.0 720p 5 s
    simulator.wait_until_settled()
    failed = client.v1.video_projects.get(id=video.id)
    assert failed.status == "error" and failed.error is not None and failed.downloads == []
    assert failed.credits_charged == 0
    assert client.v1.audio_projects.get(id=audio.id).credits_charged == 0
    assert client.v1.account.list().credits == 1_000_000


def test_cancel_by_hand_and_by_rate(make_simulator: Any, sdk: Any):
    simulator = make_simulator(time_scale=1.0)  # renders take seconds: time to cancel
    client = sdk(simulator.url, "t")
    project_id = client.v1.image_to_video.create(**I2V).id
    inspected = simulator.cancel(project_id)
    assert inspected["status"] == "canceled" and inspected["final_credits_charged"] == 0
    project = client.v1.video_projects.get(id=project_id)
    assert project.status == "canceled" and project.credits_charged == 0

    canceling = make_simulator(cancel_rate=1.0)
    client = sdk(canceling.url, "t")
    result = client.v1.text_to_video.generate(end_seconds=5, style={"prompt": "x"})
    assert result.status == "canceled" and result.credits_charged == 0
    assert not result.downloaded_paths


def test_cancel_after_the_end_is_refused(simulator: SimulatorHandle, client: magic_hour.Client):
    project_id = client.v1.ai_gif_generator.create(style={"prompt": "x"}).id
    simulator.wait_until_settled()
    with pytest.raises(Exception, match="409"):
        simulator.cancel(project_id)


def test_balance_equals_start_minus_final_credits(make_simulator: Any, sdk: Any):
    simulator = make_simulator(
        start_credits=50_000, drift_rate=0.5, job_error_rate=0.2, cancel_rate=0.1
    )
    client = sdk(simulator.url, "t")
    ids = []
    for seconds in range(1, 13):
        ids.append(
            (
                "video",
                client.v1.text_to_video.create(
                    end_seconds=seconds, style={"prompt": "x"}, model="ltx-2.5"
                ).id,
            )
        )
        ids.append(
            (
                "image",
                client.v1.ai_image_generator.create(
                    image_count=3, style={"prompt": "x"}, model="qwen-image-2.1"
                ).id,
            )
        )
        ids.append(
            (
                "audio",
                client.v1.ai_music_generator.create(
                    duration=15 + seconds, style={"prompt": "x"}
                ).id,
            )
        )
    simulator.wait_until_settled()
    getters = {
        "video": client.v1.video_projects.get,
        "image": client.v1.image_projects.get,
        "audio": client.v1.audio_projects.get,
    }
    finals = [getters[kind](id=project_id).credits_charged for kind, project_id in ids]
    assert client.v1.account.list().credits == 50_000 - sum(finals)
    truth = {job["id"]: job["final_credits_charged"] for job in simulator.jobs()}
    assert [truth[project_id] for _, project_id in ids] == finals
    statuses = {job["status"] for job in simulator.jobs()}
    assert statuses <= {"complete", "error", "canceled"} and len(statuses) > 1

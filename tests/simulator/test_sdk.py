"""The official magic-hour SDK 0.90.0, unchanged, against the simulator over real HTTP."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import magic_hour
import pytest

from ledger.simulator.testing import SimulatorHandle

IMAGE_ASSET = "api-assets/id/image.png"


def test_image_to_video_create_poll_and_delete(
    client: magic_hour.Client, simulator: SimulatorHandle
):
    created = client.v1.image_to_video.create(
        assets={"image_file_path": IMAGE_ASSET}, end_seconds=5, model="kling-3.0", resolution="720p"
    )
    assert created.credits_charged == created.estimated_frame_cost == 240  # 48/s x 5 s

    project = client.v1.video_projects.get(id=created.id)
    assert project.status in ("queued", "rendering")
    assert project.type_ == "IMAGE_TO_VIDEO"
    assert project.credits_charged == 240 and project.downloads == [] and project.error is None

    simulator.wait_until_settled()
    done = client.v1.video_projects.get(id=created.id)
    assert done.status == "complete" and done.enabled
    assert (done.width, done.height) == (1280, 720)
    assert done.downloads and done.download is not None
    assert done.downloads[0].url.endswith("/output.mp4")

    client.v1.video_projects.delete(id=created.id)
    deleted = client.v1.video_projects.get(id=created.id)
    assert deleted.enabled is False and deleted.downloads == [] and deleted.download is None
    assert deleted.credits_charged == done.credits_charged  # deleting refunds nothing


def test_image_to_video_generate_uploads_polls_and_downloads(
    client: magic_hour.Client, simulator: SimulatorHandle, inputs: dict[str, str]
):
    result = client.v1.image_to_video.generate(
        assets={"image_file_path": inputs["image"]},
        end_seconds=4,
        model="ltx-2.5",
        download_directory=inputs["downloads"],
    )
    assert result.status == "complete"
    assert result.credits_charged == 192  # ltx-2.5 at 720p, the simulator's 48/s x 4 s
    assert result.downloaded_paths == [os.path.join(inputs["downloads"], "output.mp4")]
    assert os.path.getsize(result.downloaded_paths[0]) > 0
    counters = simulator.state()["counters"]
    assert counters["POST /v1/files/upload-urls"] == 1 and counters["PUT uploads"] == 1


def test_text_to_video_generate(client: magic_hour.Client, inputs: dict[str, str]):
    result = client.v1.text_to_video.generate(
        end_seconds=8,
        style={"prompt": "a lighthouse at dusk"},
        model="veo3.1",
        resolution="1080p",
        aspect_ratio="9:16",
        download_directory=inputs["downloads"],
    )
    assert result.status == "complete" and result.type_ == "TEXT_TO_VIDEO"
    assert result.credits_charged == 960  # veo3.1 at 1080p: 120/s x 8 s
    assert (result.width, result.height) == (1080, 1920)
    assert len(result.downloaded_paths) == 1


def test_image_tools_create_generate_delete(client: magic_hour.Client, inputs: dict[str, str]):
    created = client.v1.ai_image_generator.create(
        image_count=2, style={"prompt": "a red fox"}, model="seedream-v4", resolution="640px"
    )
    assert created.credits_charged == created.frame_cost == 80  # 40 per image

    result = client.v1.image_background_remover.generate(
        assets={"image_file_path": inputs["image"]}, download_directory=inputs["downloads"]
    )
    assert result.status == "complete" and result.type_ == "BACKGROUND_REMOVER"
    assert result.credits_charged == 5 and result.image_count == 1
    assert [os.path.basename(p) for p in result.downloaded_paths] == ["output.png"]

    client.v1.image_projects.delete(id=result.id)
    assert client.v1.image_projects.get(id=result.id).enabled is False


def test_audio_tools_create_generate_delete(client: magic_hour.Client, inputs: dict[str, str]):
    created = client.v1.ai_music_generator.create(duration=30, style={"prompt": "lo-fi"})
    assert created.credits_charged == 30

    prompt = "Hello from the simulator, this is a voice line."  # 47 characters -> 5 credits
    result = client.v1.ai_voice_generator.generate(
        style={"prompt": prompt, "voice_name": "Elon Musk"},
        download_directory=inputs["downloads"],
    )
    assert result.status == "complete" and result.type_ == "VOICE_GENERATOR"
    assert result.credits_charged == 5
    assert [os.path.basename(p) for p in result.downloaded_paths] == ["output.mp3"]

    cloned = client.v1.ai_voice_cloner.generate(
        assets={"audio_file_path": inputs["audio"]},
        style={"prompt": "x" * 101},
        download_directory=inputs["downloads"],
    )
    assert cloned.credits_charged == 11
    client.v1.audio_projects.delete(id=cloned.id)
    assert client.v1.audio_projects.get(id=cloned.id).enabled is False


def test_face_detection_generate(client: magic_hour.Client, inputs: dict[str, str]):
    result = client.v1.face_detection.generate(
        assets={"target_file_path": inputs["image"]},
        confidence_score=0.5,
        download_directory=inputs["downloads"],
    )
    assert result.status == "complete" and result.credits_charged == 0
    assert len(result.faces) == 2


def test_account_balance_follows_charges(client: magic_hour.Client, simulator: SimulatorHandle):
    start = client.v1.account.list()
    assert start.credits == 1_000_000 and start.tier == "creator"
    client.v1.text_to_video.create(end_seconds=5, style={"prompt": "waves"})
    client.v1.ai_meme_generator.create(style={"template": "Drake Hotline Bling", "topic": "tests"})
    assert client.v1.account.list().credits == 1_000_000 - 240 - 10  # kling-3.0 720p 5 s


def test_async_client_create_generate_delete(
    async_client: magic_hour.AsyncClient, inputs: dict[str, str]
):
    async def scenario() -> dict[str, Any]:
        i2v = await async_client.v1.image_to_video.generate(
            assets={"image_file_path": inputs["image"]},
            end_seconds=5,
            download_directory=inputs["downloads"],
        )
        t2v = await async_client.v1.text_to_video.create(
            end_seconds=3, style={"prompt": "rain"}, model="wan-3.0"
        )
        image = await async_client.v1.ai_headshot_generator.generate(
            assets={"image_file_path": inputs["image"]}, download_directory=inputs["downloads"]
        )
        audio = await async_client.v1.ai_music_generator.generate(
            duration=15, style={"prompt": "drums"}, download_directory=inputs["downloads"]
        )
        await async_client.v1.video_projects.delete(id=t2v.id)
        t2v_after = await async_client.v1.video_projects.get(id=t2v.id)
        await async_client.v1.image_projects.delete(id=image.id)
        await async_client.v1.audio_projects.delete(id=audio.id)
        return {"i2v": i2v, "t2v": t2v, "t2v_after": t2v_after, "image": image, "audio": audio}

    outcome = asyncio.run(scenario())
    assert outcome["i2v"].status == "complete" and outcome["i2v"].downloaded_paths
    assert outcome["t2v"].estimated_frame_cost == 180  # the simulator's 60/s for wan-3.0 720p
    assert outcome["t2v_after"].enabled is False
    assert outcome["image"].credits_charged == 50 and outcome["image"].downloaded_paths
    assert outcome["audio"].credits_charged == 15 and outcome["audio"].downloaded_paths


@pytest.mark.parametrize("token", [None, "wrong"])
def test_token_is_required(make_simulator: Any, token: str | None, sdk: Any):
    simulator = make_simulator(token="the-token")
    with pytest.raises(magic_hour.ApiError) as refused:
        sdk(simulator.url, token).v1.account.list()
    assert refused.value.status_code == 401
    assert refused.value.body["code"] == "unauthorized"
    ok = sdk(simulator.url, "the-token").v1.account.list()
    assert ok.credits == 1_000_000

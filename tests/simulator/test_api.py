"""The wire: validation errors, 404s, content types, DELETE, uploads. Raw HTTP, because the SDK
refuses bad bodies before they are sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ledger.simulator.testing import SimulatorHandle

AUTH = {"Authorization": "Bearer test-token"}
I2V = {"assets": {"image_file_path": "api-assets/id/a.png"}, "end_seconds": 5.0}


@pytest.fixture
def http(simulator: SimulatorHandle) -> Any:
    with httpx.Client(base_url=simulator.url, headers=AUTH, timeout=10) as session:
        yield session


@pytest.mark.parametrize(
    ("path", "body", "field", "status"),
    [
        ("/v1/image-to-video", {"end_seconds": 5.0}, "assets", 400),
        ("/v1/image-to-video", {**I2V, "end_seconds": 0}, "end_seconds", 400),
        ("/v1/image-to-video", {**I2V, "end_seconds": "5"}, "end_seconds", 400),
        ("/v1/image-to-video", {**I2V, "model": "kling-9"}, "model", 400),
        (
            "/v1/image-to-video",
            {**I2V, "model": "kling-3.0", "end_seconds": 20.0},
            "end_seconds",
            422,
        ),
        ("/v1/image-to-video", {**I2V, "model": "veo3.1", "end_seconds": 5.0}, "end_seconds", 422),
        ("/v1/image-to-video", {**I2V, "model": "ltx-2.5", "resolution": "4k"}, "resolution", 422),
        ("/v1/image-to-video", {**I2V, "model": "ltx-2.5", "end_seconds": 2.5}, "end_seconds", 422),
        (
            "/v1/image-to-video",
            {
                "assets": {
                    "image_file_path": "api-assets/a.png",
                    "end_image_file_path": "api-assets/b.png",
                },
                "end_seconds": 5.0,
                "model": "wan-2.2",
            },
            "assets.end_image_file_path",
            422,
        ),
        ("/v1/text-to-video", {"end_seconds": 5.0, "style": {}}, "style.prompt", 400),
        (
            "/v1/text-to-video",
            {"end_seconds": 5.0, "style": {"prompt": "x"}, "aspect_ratio": "4:3"},
            "aspect_ratio",
            400,
        ),
        (
            "/v1/face-swap",
            {
                "assets": {"video_source": "file", "video_file_path": "api-assets/v.mp4"},
                "start_seconds": 4.0,
                "end_seconds": 4.0,
            },
            "end_seconds",
            422,
        ),
        (
            "/v1/lip-sync",
            {
                "assets": {"audio_file_path": "api-assets/a.mp3", "video_source": "file"},
                "start_seconds": 0.0,
                "end_seconds": 4.0,
            },
            "assets.video_file_path",
            422,
        ),
        (
            "/v1/ai-video-translator",
            {
                "assets": {"video_file_path": "api-assets/v.mp4"},
                "end_seconds": 45.0,
                "target_language": "Spanish",
            },
            "end_seconds",
            422,
        ),
        (
            "/v1/ai-image-generator",
            {"image_count": 0, "style": {"prompt": "x"}},
            "image_count",
            400,
        ),
        (
            "/v1/ai-image-generator",
            {"image_count": 2, "style": {"prompt": "x"}, "model": "flux-2-klein"},
            "image_count",
            422,
        ),
        (
            "/v1/ai-image-upscaler",
            {"assets": {"image_file_path": "api-assets/a.png"}, "scale_factor": 3},
            "scale_factor",
            422,
        ),
        ("/v1/ai-music-generator", {"duration": 5, "style": {"prompt": "x"}}, "duration", 400),
        (
            "/v1/ai-voice-generator",
            {"style": {"prompt": "x" * 1001, "voice_name": "Elon Musk"}},
            "style.prompt",
            400,
        ),
        (
            "/v1/ai-ugc-ad",
            {
                "assets": {"image_file_path": "api-assets/a.png"},
                "end_seconds": 16.0,
                "script": "buy",
                "model": "kling-3.0",
            },
            "end_seconds",
            422,
        ),
    ],
)
def test_bad_bodies_are_refused_with_json_4xx(
    http: Any, path: str, body: dict, field: str, status: int
):
    """The shape (types, enums, the description's ranges) is 400; what a model cannot make, 422."""
    response = http.post(path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "invalid_request"
    assert response.json()["field"] == field


def test_refused_creates_are_not_charged(http: Any, simulator: SimulatorHandle):
    http.post("/v1/image-to-video", json={"end_seconds": 5.0})
    http.post(
        "/v1/image-to-video", content=b"{not json", headers={"content-type": "application/json"}
    )
    state = simulator.state()
    assert state["jobs"]["total"] == 0 and state["account"]["credits"] == 1_000_000
    assert state["counters"]["POST /v1/image-to-video"] == 2


def test_malformed_json_is_400(http: Any):
    response = http.post(
        "/v1/image-to-video", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"


def test_missing_bearer_is_401_json(simulator: SimulatorHandle):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = httpx.post(f"{simulator.url}/v1/image-to-video", json=I2V, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert response.json()["code"] == "unauthorized"


def test_create_variants_per_kind(http: Any):
    video = http.post("/v1/image-to-video", json=I2V).json()
    image = http.post(
        "/v1/photo-colorizer", json={"assets": {"image_file_path": "https://x/a.png"}}
    )
    audio = http.post("/v1/ai-music-generator", json={"duration": 20, "style": {"prompt": "x"}})
    assert set(video) == {"id", "credits_charged", "estimated_frame_cost"}
    assert image.json() == {"id": image.json()["id"], "credits_charged": 10, "frame_cost": 10}
    assert audio.json() == {"id": audio.json()["id"], "credits_charged": 20}


def test_unknown_or_wrong_kind_id_is_404(http: Any):
    video_id = http.post("/v1/image-to-video", json=I2V).json()["id"]
    for path in (
        f"/v1/image-projects/{video_id}",
        f"/v1/audio-projects/{video_id}",
        "/v1/video-projects/does-not-exist",
    ):
        response = http.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
    assert http.delete(f"/v1/audio-projects/{video_id}").status_code == 404
    assert http.post("/v1/not-a-tool", json={}).status_code == 404


def test_delete_is_204_without_body(http: Any):
    video_id = http.post("/v1/image-to-video", json=I2V).json()["id"]
    response = http.delete(f"/v1/video-projects/{video_id}")
    assert response.status_code == 204 and response.content == b""


def test_project_shapes_have_every_key(http: Any):
    video_id = http.post("/v1/image-to-video", json=I2V).json()["id"]
    image_id = http.post(
        "/v1/ai-qr-code-generator", json={"content": "x", "style": {"art_style": "y"}}
    )
    audio_id = http.post("/v1/ai-music-generator", json={"duration": 20, "style": {"prompt": "x"}})
    video = http.get(f"/v1/video-projects/{video_id}").json()
    image = http.get(f"/v1/image-projects/{image_id.json()['id']}").json()
    audio = http.get(f"/v1/audio-projects/{audio_id.json()['id']}").json()
    common = {
        "id",
        "type",
        "name",
        "status",
        "enabled",
        "created_at",
        "credits_charged",
        "error",
        "downloads",
    }
    assert set(video) == common | {
        "start_seconds",
        "end_seconds",
        "fps",
        "width",
        "height",
        "total_frame_cost",
        "download",
    }
    assert set(image) == common | {"image_count", "total_frame_cost"}
    assert set(audio) == common
    assert video["name"] is None and video["error"] is None and video["download"] is None


def test_upload_urls_accept_a_put_and_refuse_bad_extensions(http: Any):
    reply = http.post(
        "/v1/files/upload-urls",
        json={
            "items": [{"extension": "png", "type": "image"}, {"extension": "mp4", "type": "video"}]
        },
    )
    items = reply.json()["items"]
    assert [item["file_path"].rsplit(".", 1)[1] for item in items] == ["png", "mp4"]
    assert all(item["file_path"].startswith("api-assets/") for item in items)
    assert httpx.put(items[0]["upload_url"], content=b"bytes").status_code == 200
    for item in (
        {"extension": "exe", "type": "image"},
        {"extension": "PNG", "type": "image"},  # the description's pattern: ^[a-z0-9]+$
        {"extension": ".png", "type": "image"},
        {"extension": "png", "type": "gif"},
        {"extension": "png"},
        [],
    ):
        bad = http.post("/v1/files/upload-urls", json={"items": [item]})
        assert bad.status_code == 400, item
        assert bad.json()["message"].startswith("items[0]")


def test_upload_extensions_are_not_tied_to_a_type(http: Any):
    """The description lists every extension for the `extension` field, and a "gif" group that
    is no type of its enum; the SDK sends a .gif (face swap video) as type image."""
    items = [
        {"extension": "gif", "type": "image"},
        {"extension": "webp", "type": "video"},
        {"extension": "mp4", "type": "image"},
        {"extension": "webm", "type": "audio"},
    ]
    reply = http.post("/v1/files/upload-urls", json={"items": items})
    assert reply.status_code == 200, reply.text
    paths = [item["file_path"] for item in reply.json()["items"]]
    assert [path.rsplit(".", 1)[1] for path in paths] == ["gif", "webp", "mp4", "webm"]


@pytest.mark.parametrize(
    "path", ["image/id/1234.png", "video/id/1234.mp4", "api-assets/id/1234.png", "https://x/a.png"]
)
def test_the_descriptions_own_example_paths_are_accepted(http: Any, path: str):
    """Its examples have no api-assets/ prefix (`file_path` of upload-urls: video/id/1234.mp4)."""
    created = http.post(
        "/v1/face-swap",
        json={
            "assets": {"video_source": "file", "video_file_path": path, "image_file_path": path},
            "start_seconds": 0,
            "end_seconds": 2,
        },
    )
    assert created.status_code == 200, created.text


def test_downloads_only_for_complete_projects(make_simulator: Callable[..., SimulatorHandle]):
    # Renders of about 2 s (not the suite's ~55 ms), so the early look cannot race the render.
    simulator = make_simulator(time_scale=0.5)
    with httpx.Client(base_url=simulator.url, headers=AUTH, timeout=10) as http:
        video_id = http.post("/v1/image-to-video", json=I2V).json()["id"]
        early = http.get(f"/_simulator/files/{video_id}/output.mp4")
        assert early.status_code == 404
        simulator.wait_until_settled()
        url = http.get(f"/v1/video-projects/{video_id}").json()["downloads"][0]["url"]
        response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"

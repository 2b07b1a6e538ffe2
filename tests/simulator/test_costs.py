"""What the simulator charges and refuses, over real HTTP: Magic Hour's published rates
(``magic-hour-pricing.md``), and the simulator's own stand-ins where nothing is published.

The expected charges are worked out here by hand from the reference, never from
``ledger.simulator.costs``: a wrong number in either place makes a case fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger.simulator import catalog, choices, costs
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.testing import SimulatorHandle, running_simulator

AUTH = {"Authorization": "Bearer test-token"}
IMG = {"image_file_path": "api-assets/id/a.png"}
VID = {"video_file_path": "api-assets/id/v.mp4"}
VOICE = "Morgan Freeman"
AUD = {"audio_file_path": "api-assets/id/a.mp3"}


def i2v(seconds: float, **more: Any) -> dict[str, Any]:
    return {"assets": IMG, "end_seconds": seconds, **more}


def t2v(seconds: float, **more: Any) -> dict[str, Any]:
    return {"end_seconds": seconds, "style": {"prompt": "waves"}, **more}


def clip(start: float, end: float, **more: Any) -> dict[str, Any]:
    return {"start_seconds": start, "end_seconds": end, **more}


ANIMATION_STYLE = {
    "art_style": "Painterly Illustration",
    "camera_effect": "Simple Zoom In",
    "prompt_type": "ai_choose",
    "transition_speed": 5,
}


def animation(fps: float, seconds: float, **more: Any) -> dict[str, Any]:
    return {
        "assets": {"audio_source": "none"},
        "end_seconds": seconds,
        "fps": fps,
        "width": 512,
        "height": 512,
        "style": ANIMATION_STYLE,
        **more,
    }


def face_swap(start: float, end: float) -> dict[str, Any]:
    return clip(start, end, assets={"video_source": "file", **VID, **IMG})


def lip_sync(start: float, end: float, **more: Any) -> dict[str, Any]:
    return clip(start, end, assets={"video_source": "file", **VID, **AUD}, **more)


def talking(start: float, end: float, mode: str | None = None) -> dict[str, Any]:
    style = {"generation_mode": mode} if mode else {}
    return clip(start, end, assets={**IMG, **AUD}, style=style)


def v2v(start: float, end: float, **more: Any) -> dict[str, Any]:
    assets = {"video_source": "file", **VID}
    return clip(start, end, assets=assets, style={"art_style": "Cyberpunk"}, **more)


def ugc(seconds: float, **more: Any) -> dict[str, Any]:
    return {"assets": IMG, "end_seconds": seconds, "script": "buy it", **more}


def video_clip(start: float, end: float, **more: Any) -> dict[str, Any]:
    return clip(start, end, assets=VID, **more)


def replace(end: float, **more: Any) -> dict[str, Any]:
    return {"assets": {**IMG, **VID}, "end_seconds": end, **more}


def edit(end: float, **more: Any) -> dict[str, Any]:
    return {"assets": VID, "end_seconds": end, "style": {"prompt": "snow"}, **more}


def generate(count: int, **more: Any) -> dict[str, Any]:
    return {"image_count": count, "style": {"prompt": "a fox"}, **more}


def upscale(factor: int, mode: str | None = None) -> dict[str, Any]:
    return {"assets": IMG, "scale_factor": factor, "style": {"mode": mode} if mode else {}}


EDITOR_IMAGES = {"image_file_paths": ["api-assets/id/a.png"]}
PAIR = {"person_file_path": "api-assets/p.png"}

# (tier, endpoint, body, credits at create time), worked out by hand
PRICES = [
    # image-to-video and text-to-video: end_seconds x the rate of pricing §1 (+ audio)
    ("creator", "image-to-video", i2v(10, model="seedance-2.5", resolution="720p"), 5760),
    ("creator", "image-to-video", i2v(10, model="kling-3.0", resolution="4k", audio=True), 2880),
    ("creator", "text-to-video", t2v(8, model="veo3.1", resolution="1080p", audio=True), 1152),
    ("creator", "image-to-video", i2v(5, model="kling-3.0", resolution="1080p", audio=True), 480),
    ("creator", "image-to-video", i2v(5, model="kling-3.0", resolution="720p"), 240),
    ("creator", "text-to-video", t2v(6, model="veo3.1-lite", resolution="720p", audio=True), 432),
    ("creator", "text-to-video", t2v(4, model="veo3.1", resolution="720p"), 384),
    ("creator", "image-to-video", i2v(5, model="seedance-1.5", resolution="720p"), 300),
    ("creator", "image-to-video", i2v(5, model="seedance-1.5", resolution="720p", audio=True), 600),
    ("creator", "image-to-video", i2v(30, model="ltx-2.3", resolution="1080p"), 2160),
    ("creator", "text-to-video", t2v(25, model="minimax-h3", resolution="480p", audio=True), 600),
    ("creator", "text-to-video", t2v(15, model="wan-2.2", resolution="480p"), 360),
    ("creator", "image-to-video", i2v(5, model="kling-2.6", resolution="720p"), 180),
    ("creator", "image-to-video", i2v(4, model="seedance-2.0-mini", resolution="480p"), 384),
    ("creator", "image-to-video", i2v(15, model="seedance-2.0", resolution="720p"), 4320),
    ("creator", "text-to-video", t2v(12, model="sora-2", resolution="720p", audio=True), 1440),
    # deprecated -audio names: the base model with audio on
    ("creator", "image-to-video", i2v(4, model="veo3.1-audio", resolution="720p"), 480),
    # no model: kling-3.0 up to 15 s, ltx-2.3 above, seedance-1.5 at 480p; free: ltx-2.3 480p
    ("creator", "image-to-video", i2v(10, resolution="720p"), 480),
    ("creator", "image-to-video", i2v(10), 480),
    ("creator", "image-to-video", i2v(20, resolution="720p"), 960),
    ("creator", "text-to-video", t2v(25, model="default"), 1200),
    ("business", "image-to-video", i2v(8, resolution="480p"), 240),
    ("free", "image-to-video", i2v(5), 120),
    ("free", "text-to-video", t2v(20, resolution="1080p"), 1440),
    # deprecated quality switches stand for a resolution when none is given
    ("creator", "image-to-video", i2v(10, style={"high_quality": True}), 720),
    ("creator", "image-to-video", i2v(10, style={"high_quality": False}), 480),
    ("creator", "text-to-video", t2v(5, style={"prompt": "x", "quality_mode": "studio"}), 360),
    ("creator", "image-to-video", i2v(5, resolution="720p", style={"high_quality": True}), 240),
    # hidden (the simulator's own) rates for models with no published one; audio included
    ("creator", "image-to-video", i2v(7, model="ltx-2.5", resolution="480p", audio=True), 168),
    ("creator", "image-to-video", i2v(2, model="wan-3.0", resolution="1080p"), 180),
    ("creator", "text-to-video", t2v(3, model="gemini-omni-1.1", resolution="4k"), 720),
    ("creator", "image-to-video", i2v(4, model="seedance-2.0-fast", resolution="720p"), 576),
    ("creator", "image-to-video", i2v(1.1, model="ltx-2", resolution="720p"), 53),  # 52.8
    ("creator", "image-to-video", i2v(5, model="kling-1.6", resolution="1080p"), 360),
    ("creator", "image-to-video", i2v(5, model="kling-2.5-audio", resolution="720p"), 180),
    ("creator", "image-to-video", i2v(2.5, model="seedance", resolution="480p"), 75),
    # a default resolution the model lacks becomes its lowest (the simulator's choice)
    ("free", "image-to-video", i2v(5, model="kling-3.0"), 240),
    # the other video endpoints (pricing §2)
    ("creator", "animation", animation(24, 3), 72),
    ("creator", "animation", animation(12.5, 3), 38),  # 37.5 frames
    ("free", "audio-to-video", clip(0, 10, assets=AUD), 240),
    ("creator", "audio-to-video", {"assets": AUD, "end_seconds": 2.5}, 120),
    ("creator", "audio-to-video", clip(1, 3, assets=AUD, resolution="1080p"), 144),
    ("creator", "auto-subtitle-generator", video_clip(0, 10, style={"template": "karaoke"}), 48),
    ("creator", "auto-subtitle-generator", video_clip(0, 2.5, style={"template": "karaoke"}), 12),
    ("creator", "face-swap", face_swap(1.5, 3.0), 36),
    ("creator", "lip-sync", lip_sync(0, 2), 60),
    ("creator", "lip-sync", lip_sync(0, 2, max_fps_limit=12), 24),
    ("creator", "lip-sync", lip_sync(0, 2, style={"generation_mode": "pro"}), 120),
    ("creator", "lip-sync", lip_sync(0, 2, style={"generation_mode": "lite"}), 60),
    ("creator", "ai-talking-photo", talking(0, 2.5), 120),
    ("creator", "ai-talking-photo", talking(0, 2, "prompted"), 48),
    ("creator", "ai-talking-photo", talking(0, 2, "standard"), 48),
    ("creator", "ai-talking-photo", talking(0, 2, "expressive"), 48),
    ("creator", "ai-talking-photo", talking(0, 1, "stable"), 48),
    ("creator", "ai-talking-photo", talking(0, 1, "pro"), 48),
    ("creator", "video-to-video", v2v(0, 2), 96),
    ("creator", "video-to-video", v2v(0, 2, fps_resolution="HALF"), 48),
    # hidden rates per second of clip
    ("creator", "ai-ugc-ad", ugc(10), 720),
    ("creator", "ai-ugc-ad", ugc(8, model="veo3.1", resolution="1080p"), 1152),
    ("free", "ai-ugc-ad", ugc(5, model="ltx-2.5"), 120),
    ("free", "ai-ugc-ad", ugc(5), 360),  # kling-3.0 has no 480p: its lowest, 720p
    (
        "creator",
        "ai-video-translator",
        video_clip(0, 10, target_language="Spanish"),
        360,
    ),
    (
        "creator",
        "ai-video-translator",
        video_clip(0, 10, target_language="Spanish", resolution="1080p"),
        840,
    ),
    ("creator", "ai-video-upscaler", video_clip(0, 5, resolution="4k"), 960),
    ("creator", "ai-video-upscaler", video_clip(2, 3, resolution="720p"), 24),
    ("creator", "ai-video-upscaler", video_clip(0, 2, resolution="2k"), 192),
    ("creator", "character-replace", replace(10), 240),
    ("creator", "character-replace", replace(40, resolution="720p"), 1920),  # no maximum
    ("creator", "character-replace", replace(5, model="kling-3.0", resolution="1080p"), 360),
    ("creator", "character-replace", replace(5, model="kling-3.0"), 240),
    (
        "creator",
        "character-replace",
        replace(30, model="kling-3.0", style={"mode": "animate"}),
        1440,
    ),
    ("creator", "ai-video-editor", edit(5), 360),  # gemini-omni-1.1 at 720p
    ("free", "ai-video-editor", edit(10), 240),  # ltx-2.5 at 480p
    ("creator", "ai-video-editor", edit(45, model="ltx-2.3", resolution="1080p"), 3240),
    ("creator", "ai-video-editor", edit(3, model="gemini-omni", resolution="1080p"), 288),
    ("creator", "ai-video-editor", edit(20, model="ltx-2.5"), 960),
    # images: fixed prices (pricing §2)
    ("creator", "ai-clothes-changer", {"assets": {**PAIR, "garment_file_path": "https://x/g"}}, 25),
    ("creator", "ai-face-editor", {"assets": IMG, "style": {"mouth_smile": 50}}, 1),
    ("creator", "ai-gif-generator", {"style": {"prompt": "x"}}, 50),
    ("creator", "ai-headshot-generator", {"assets": IMG}, 50),
    ("creator", "ai-meme-generator", {"style": {"template": "Random", "topic": "x"}}, 10),
    ("creator", "ai-qr-code-generator", {"content": "x", "style": {"art_style": "y"}}, 0),
    ("creator", "face-swap-photo", {"assets": {"target_file_path": "https://x/t.png"}}, 10),
    (
        "creator",
        "head-swap",
        {"assets": {"body_file_path": "https://x/b", "head_file_path": "https://x/h"}},
        10,
    ),
    ("creator", "image-background-remover", {"assets": IMG}, 5),
    ("creator", "photo-colorizer", {"assets": IMG}, 10),
    ("creator", "ai-image-upscaler", upscale(2, "preserve"), 25),
    ("creator", "ai-image-upscaler", upscale(2, "pro"), 25),
    ("creator", "ai-image-upscaler", upscale(2), 50),
    ("creator", "ai-image-upscaler", upscale(2, "creative"), 50),
    ("creator", "ai-image-upscaler", upscale(4, "preserve"), 100),
    ("creator", "ai-image-upscaler", upscale(4, "balanced"), 200),
    ("creator", "ai-image-upscaler", upscale(4, "creative"), 200),
    (
        "creator",
        "body-swap",
        {"assets": {**PAIR, "scene_file_path": "https://x/s"}, "resolution": "640px"},
        50,
    ),
    (
        "creator",
        "body-swap",
        {"assets": {**PAIR, "scene_file_path": "https://x/s"}, "resolution": "1k"},
        50,
    ),
    (
        "creator",
        "body-swap",
        {"assets": {**PAIR, "scene_file_path": "https://x/s"}, "resolution": "2k"},
        100,
    ),
    (
        "creator",
        "body-swap",
        {"assets": {**PAIR, "scene_file_path": "https://x/s"}, "resolution": "4k"},
        150,
    ),
    # generator and editor: "from" price at the model's lowest resolution, x1.5 per step above
    ("creator", "ai-image-generator", generate(1, model="flux-schnell", resolution="640px"), 5),
    ("creator", "ai-image-generator", generate(1, model="flux-schnell", resolution="1k"), 8),
    ("creator", "ai-image-generator", generate(1, model="flux-schnell", resolution="2k"), 12),
    ("creator", "ai-image-generator", generate(4, model="z-image-turbo"), 32),  # 1k on paid
    ("free", "ai-image-generator", generate(4, model="z-image-turbo"), 20),  # 640px on free
    ("creator", "ai-image-generator", generate(3, model="z-image-turbo", resolution="auto"), 24),
    ("creator", "ai-image-generator", generate(4, model="nano-banana-2", resolution="4k"), 1352),
    ("creator", "ai-image-generator", generate(1, model="nano-banana-pro"), 150),
    ("free", "ai-image-generator", generate(1, model="nano-banana-pro"), 150),  # lowest is 1k
    ("creator", "ai-image-generator", generate(1, model="nano-banana-pro", resolution="4k"), 338),
    ("creator", "ai-image-generator", generate(2, model="seedream-v4", resolution="640px"), 80),
    ("creator", "ai-image-generator", generate(2, model="seedream", resolution="640px"), 80),
    ("creator", "ai-image-generator", generate(1, model="seedream-v5-pro", resolution="2k"), 169),
    ("creator", "ai-image-generator", generate(1, model="krea-2", resolution="1k"), 15),
    (
        "creator",
        "ai-image-generator",
        {"image_count": 1, "style": {"prompt": "x", "quality_mode": "pro"}},
        60,  # seedream-v4 at 1k
    ),
    ("creator", "ai-image-generator", generate(1), 8),  # default: 5 at 640px, 1k on paid
    (
        "creator",
        "ai-image-editor",
        {
            "assets": EDITOR_IMAGES,
            "style": {"prompt": "x"},
            "model": "qwen-edit",
            "resolution": "2k",
            "image_count": 4,  # the description's editor counts: 1, 4, 9, 16
        },
        92,  # 10 x 2.25 = 22.5 -> 23 per image
    ),
    (
        "creator",
        "ai-image-editor",
        {
            "assets": EDITOR_IMAGES,
            "style": {"prompt": "x"},
            "model": "seedream-v4.5",
            "resolution": "640px",
        },
        50,
    ),
    # audio
    ("creator", "ai-music-generator", {"duration": 120, "style": {"prompt": "x"}}, 120),
    ("creator", "ai-voice-generator", {"style": {"prompt": "x" * 11, "voice_name": VOICE}}, 2),
    ("creator", "ai-voice-generator", {"style": {"prompt": "x" * 10, "voice_name": VOICE}}, 1),
    ("creator", "ai-voice-cloner", {"assets": AUD, "style": {"prompt": "é" * 1000}}, 100),
    ("creator", "face-detection", {"assets": {"target_file_path": "https://x/f.png"}}, 0),
]

# (tier, endpoint, body, the field named in the 422)
REFUSALS = [
    # a resolution the model does not offer (pricing §1 wins over API §4.3)
    ("creator", "image-to-video", i2v(10, model="seedance-2.0", resolution="1080p"), "resolution"),
    ("creator", "image-to-video", i2v(10, model="seedance-2.5", resolution="1080p"), "resolution"),
    ("creator", "text-to-video", t2v(8, model="sora-2", resolution="480p"), "resolution"),
    ("creator", "image-to-video", i2v(10, model="ltx-2.3", resolution="4k"), "resolution"),
    ("creator", "image-to-video", i2v(5, model="kling-3.0", resolution="480p"), "resolution"),
    ("creator", "image-to-video", i2v(4, model="veo3.1", resolution="4k"), "resolution"),
    ("creator", "image-to-video", i2v(5, model="kling-1.6", resolution="480p"), "resolution"),
    ("free", "image-to-video", i2v(5, resolution="4k"), "resolution"),  # ltx-2.3
    ("creator", "image-to-video", i2v(5, resolution="360p"), "resolution"),  # kling-3.0
    (
        "creator",
        "image-to-video",
        i2v(4, model="sora-2", style={"high_quality": True}),
        "resolution",
    ),
    # a duration outside the model's list
    ("creator", "image-to-video", i2v(11, model="ltx-2.3"), "end_seconds"),
    ("creator", "image-to-video", i2v(31, model="ltx-2.3"), "end_seconds"),
    ("creator", "image-to-video", i2v(12, model="minimax-h3"), "end_seconds"),
    ("creator", "image-to-video", i2v(11, model="wan-2.2"), "end_seconds"),
    ("creator", "image-to-video", i2v(6, model="kling-2.6"), "end_seconds"),
    ("creator", "image-to-video", i2v(16, model="kling-3.0"), "end_seconds"),
    ("creator", "image-to-video", i2v(10, model="veo3.1-lite"), "end_seconds"),
    ("creator", "image-to-video", i2v(5, model="veo3.1-audio"), "end_seconds"),
    ("creator", "image-to-video", i2v(13, model="seedance-1.5"), "end_seconds"),
    ("creator", "image-to-video", i2v(16, model="seedance-2.0-mini"), "end_seconds"),
    ("creator", "image-to-video", i2v(3, model="seedance-2.0"), "end_seconds"),
    ("creator", "image-to-video", i2v(31, model="seedance-2.5"), "end_seconds"),
    ("creator", "text-to-video", t2v(10, model="sora-2"), "end_seconds"),
    ("creator", "image-to-video", i2v(20, resolution="480p"), "end_seconds"),  # seedance-1.5
    ("creator", "image-to-video", i2v(16.5, resolution="720p"), "end_seconds"),  # ltx-2.3
    ("free", "image-to-video", i2v(12), "end_seconds"),  # ltx-2.3
    # audio where the model has none
    ("creator", "image-to-video", i2v(5, model="wan-2.2", audio=True), "audio"),
    ("creator", "image-to-video", i2v(5, model="kling-2.6", audio=True), "audio"),
    ("creator", "text-to-video", t2v(5, model="gemini-omni-1.1", audio=True), "audio"),
    # start_seconds where end_seconds is the whole duration
    ("creator", "image-to-video", i2v(5, start_seconds=1), "start_seconds"),
    ("creator", "text-to-video", t2v(5, start_seconds=0), "start_seconds"),
    ("creator", "ai-ugc-ad", ugc(5, start_seconds=1), "start_seconds"),
    ("creator", "animation", animation(24, 3, start_seconds=1), "start_seconds"),
    # the other endpoints' models
    ("creator", "ai-ugc-ad", ugc(5, resolution="480p"), "resolution"),
    ("creator", "ai-ugc-ad", ugc(4, model="veo3.1", resolution="480p"), "resolution"),
    ("creator", "character-replace", replace(11, model="kling-3.0"), "end_seconds"),
    (
        "creator",
        "character-replace",
        replace(31, model="kling-3.0", style={"mode": "animate"}),
        "end_seconds",
    ),
    (
        "creator",
        "character-replace",
        replace(5, model="kling-3.0", resolution="480p"),
        "resolution",
    ),
    ("creator", "character-replace", replace(5, resolution="1080p"), "resolution"),
    ("creator", "ai-video-editor", edit(21, model="ltx-2.5"), "end_seconds"),
    ("creator", "ai-video-editor", edit(46, model="ltx-2.3"), "end_seconds"),
    ("creator", "ai-video-editor", edit(11), "end_seconds"),  # gemini-omni-1.1
    ("creator", "ai-video-editor", edit(5, resolution="480p"), "resolution"),
    (
        "creator",
        "ai-image-generator",
        generate(1, model="nano-banana-pro", resolution="640px"),
        "resolution",
    ),
    (
        "creator",
        "ai-image-generator",
        generate(1, model="nano-banana", resolution="2k"),
        "resolution",
    ),
]


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, SimulatorHandle]]:
    """One simulator per tier for the whole module: these tests only read create responses."""
    with (
        running_simulator(SimulatorOptions(tier="free")) as free,
        running_simulator(SimulatorOptions(tier="creator")) as creator,
        running_simulator(SimulatorOptions(tier="business")) as business,
    ):
        yield {"free": free, "creator": creator, "business": business}


def create(simulator: SimulatorHandle, endpoint: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{simulator.url}/v1/{endpoint}", json=body, headers=AUTH, timeout=10)


@pytest.mark.parametrize(("tier", "endpoint", "body", "credits"), PRICES)
def test_create_charges_the_published_price(
    simulators: dict[str, SimulatorHandle], tier: str, endpoint: str, body: dict, credits: int
):
    response = create(simulators[tier], endpoint, body)
    assert response.status_code == 200, response.text
    assert response.json()["credits_charged"] == credits


@pytest.mark.parametrize(("tier", "endpoint", "body", "field"), REFUSALS)
def test_what_magic_hour_refuses_is_422(
    simulators: dict[str, SimulatorHandle], tier: str, endpoint: str, body: dict, field: str
):
    response = create(simulators[tier], endpoint, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "invalid_request"
    assert response.json()["field"] == field


def test_a_long_clip_without_model_is_ltx_and_valid(simulators: dict[str, SimulatorHandle]):
    simulator = simulators["creator"]
    ok = create(simulator, "image-to-video", i2v(20, resolution="720p"))
    refused = create(simulator, "image-to-video", i2v(20, resolution="480p"))
    assert (ok.status_code, ok.json()["credits_charged"]) == (200, 960)
    assert refused.status_code == 422 and "seedance-1.5" in refused.json()["message"]


def test_every_video_model_has_a_rate_for_each_resolution_it_offers():
    for name in catalog.VIDEO_MODELS:
        assert tuple(costs.ALL_VIDEO_RATES[name]) == choices.VIDEO_RESOLUTIONS[name], name
    for endpoint, offers in (
        ("ai-ugc-ad", choices.UGC_RESOLUTIONS),
        ("character-replace", choices.CHARACTER_RESOLUTIONS),
        ("ai-video-editor", choices.EDITOR_RESOLUTIONS),
    ):
        rates = costs.HIDDEN_ENDPOINT_RATES[endpoint]
        assert {m: tuple(r) for m, r in rates.items()} == offers, endpoint


def test_lip_sync_and_generated_video_settle_to_the_output_frame_rate():
    video = costs.quote("video", "image-to-video", i2v(10, model="kling-3.0"), "creator")
    assert (video.settle(24), video.settle(25), video.settle(30)) == (480, 500, 600)
    seedance = costs.quote("video", "image-to-video", i2v(5, model="seedance-1.5"), "creator")
    assert (seedance.at_create("30fps"), seedance.settle(30), seedance.settle(24)) == (
        300,
        300,
        240,
    )
    lips = costs.quote("video", "lip-sync", lip_sync(0, 2), "creator")
    assert (lips.at_create("30fps"), lips.settle(24)) == (60, 48)
    per_second = costs.quote("video", "face-swap", face_swap(0, 2), "creator")
    assert per_second.settle(30) == 48
    image = costs.quote("image", "photo-colorizer", {}, "creator")
    assert image.settle(24) == 10


def test_every_reference_endpoint_is_in_the_catalog():
    video = {
        "animation",
        "audio-to-video",
        "auto-subtitle-generator",
        "character-replace",
        "face-swap",
        "image-to-video",
        "lip-sync",
        "text-to-video",
        "video-to-video",
        "ai-talking-photo",
        "ai-ugc-ad",
        "ai-video-editor",
        "ai-video-translator",
        "ai-video-upscaler",
    }
    image = {
        "ai-clothes-changer",
        "ai-face-editor",
        "ai-gif-generator",
        "ai-headshot-generator",
        "ai-image-editor",
        "ai-image-generator",
        "ai-image-upscaler",
        "ai-meme-generator",
        "ai-qr-code-generator",
        "body-swap",
        "face-swap-photo",
        "head-swap",
        "image-background-remover",
        "photo-colorizer",
    }
    audio = {"ai-music-generator", "ai-voice-cloner", "ai-voice-generator"}
    for kind, names in (("video", video), ("image", image), ("audio", audio)):
        assert {t.endpoint for t in catalog.TOOLS.values() if t.kind == kind} == names

"""The simulator's price list (ledger/simulator/costs.py) on its own."""

from __future__ import annotations

import pytest

from ledger.simulator import catalog, costs


@pytest.mark.parametrize(
    ("endpoint", "body", "credits"),
    [
        ("image-to-video", {"end_seconds": 5.0}, 150),
        ("text-to-video", {"end_seconds": 0.1}, 3),
        ("face-swap", {"start_seconds": 1.5, "end_seconds": 3.0}, 45),
        ("lip-sync", {"start_seconds": 0, "end_seconds": 2, "max_fps_limit": 12}, 24),
        (
            "lip-sync",
            {"start_seconds": 0, "end_seconds": 2, "style": {"generation_mode": "pro"}},
            120,
        ),
        ("video-to-video", {"start_seconds": 0, "end_seconds": 2, "fps_resolution": "HALF"}, 30),
        ("animation", {"end_seconds": 3, "fps": 12}, 36),
        ("ai-talking-photo", {"start_seconds": 0, "end_seconds": 2.5}, 75),
        ("ai-clothes-changer", {}, 25),
        ("ai-qr-code-generator", {}, 0),
        ("ai-image-generator", {"image_count": 4, "model": "nano-banana-2"}, 400),
        ("ai-image-editor", {}, 5),
        ("ai-image-upscaler", {"scale_factor": 4, "style": {"mode": "preserve"}}, 100),
        ("ai-image-upscaler", {"scale_factor": 2}, 50),
        ("body-swap", {"resolution": "4k"}, 150),
        ("ai-music-generator", {"duration": 120}, 120),
        ("ai-voice-generator", {"style": {"prompt": "x" * 11}}, 2),
        ("face-detection", {}, 0),
    ],
)
def test_quotes(endpoint: str, body: dict, credits: int):
    kind = catalog.TOOLS[endpoint].kind
    assert costs.quote(kind, endpoint, body).credits == credits


def test_per_frame_settles_to_rendered_frames_and_fixed_prices_do_not():
    video = costs.quote("video", "image-to-video", {"end_seconds": 5.0})
    assert (video.settle(24), video.settle(25), video.settle(30)) == (120, 125, 150)
    image = costs.quote("image", "photo-colorizer", {})
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

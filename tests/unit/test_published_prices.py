"""Every published Magic Hour price, checked against ledger's built-in pricing table.

This file is a second reading of the reference, `shared/reference/magic-hour-pricing.md`
(which wins over `magic-hour-api.md` §4; that file's §2.2-2.4 was used only for request field
names). It was written independently of ledger's pricing table and pricing code, without looking
at either, so that a misreading in one shows up as a disagreement with the other.

The reference's numbers are transcribed below as plain data (the `VIDEO_MODELS`, `DURATION_PRICED`,
`FIXED_PRICE_IMAGE`, `UPSCALER`, `IMAGE_MODELS` tables, each one line of the reference); the rows
are every published combination of them, expanded with plain loops. Each row is a request body as
a Magic Hour client would send it, the plan, and the published charge as an exact Fraction. Ledger
may round a fractional charge up, so it must hold at least the published charge and at most one
credit more.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest

from ledger.pricing import PricingTable

PLANS = ("free", "creator", "pro", "business")
PAID_PLANS = ("creator", "pro", "business")
PLAN = "creator"  # plan of the rows whose price does not depend on the plan

IMAGE = "api-assets/id/1.png"
IMAGE_2 = "api-assets/id/2.png"
VIDEO = "api-assets/id/video.mp4"
AUDIO = "api-assets/id/audio.mp3"
PROMPT = "a red fox running through fresh snow at dawn"

VIDEO_ENDPOINTS = ("image-to-video", "text-to-video")

# ---------------------------------------------------------------------------------------------
# The reference, §1: video models (image-to-video and text-to-video), credits per second.
# "audio": None = not supported; "included" = no extra; "double" = doubles the rate;
# a dict = extra credits per second by resolution.
# ---------------------------------------------------------------------------------------------

LTX_DURATIONS = (*range(1, 11), 15, 20, 25, 30)
VEO_DURATIONS = (4, 6, 8, 16, 24, 32, 40, 48, 56)

VIDEO_MODELS: dict[str, dict[str, Any]] = {
    "ltx-2.3": {
        "rates": {"480p": 24, "720p": 48, "1080p": 72},
        "audio": "included",
        "durations": LTX_DURATIONS,
    },
    "minimax-h3": {
        "rates": {"480p": 24, "720p": 48, "1080p": 72},
        "audio": "included",
        "durations": LTX_DURATIONS,
    },
    "wan-2.2": {
        "rates": {"480p": 24, "720p": 48, "1080p": 72},
        "audio": None,
        "durations": (*range(3, 11), 15),
    },
    "kling-2.6": {
        "rates": {"720p": 36, "1080p": 72},
        "audio": None,
        "durations": (5, 10),
    },
    "kling-3.0": {
        "rates": {"720p": 48, "1080p": 72, "4k": 240},
        "audio": {"720p": 24, "1080p": 24, "4k": 48},
        "durations": tuple(range(3, 16)),
    },
    "veo3.1-lite": {
        "rates": {"720p": 48, "1080p": 72},
        "audio": {"720p": 24, "1080p": 24},
        "durations": VEO_DURATIONS,
    },
    "veo3.1": {
        "rates": {"720p": 96, "1080p": 120},
        "audio": {"720p": 24, "1080p": 24},
        "durations": VEO_DURATIONS,
    },
    "seedance-1.5": {
        "rates": {"480p": 30, "720p": 60, "1080p": 90},
        "audio": "double",
        "durations": tuple(range(4, 13)),
    },
    "seedance-2.0-mini": {
        "rates": {"480p": 96, "720p": 192},
        "audio": "included",
        "durations": tuple(range(4, 16)),
    },
    "seedance-2.0": {
        "rates": {"480p": 144, "720p": 288},
        "audio": "included",
        "durations": tuple(range(4, 16)),
    },
    "seedance-2.5": {
        "rates": {"480p": 288, "720p": 576},
        "audio": "included",
        "durations": tuple(range(4, 31)),
    },
    "sora-2": {
        "rates": {"720p": 120},
        "audio": "included",
        "durations": (4, 8, 12, 24, 36, 48, 60),
    },
}

# Deprecated names that mean "the base model with audio: true" and that have a published rate
# (kling-2.5-audio does not: kling-2.5 has none).
AUDIO_ALIASES = {"veo3.1-audio": "veo3.1"}

# §1, `model` absent or "default": free tier ltx-2.3 (480p when resolution is absent); paid tiers
# seedance-1.5 at 480p, otherwise ltx-2.3 above 15 s and kling-3.0 at 15 s or less (720p when
# resolution is absent).
DEFAULT_DURATIONS = (1, 3, 4, 5, 10, 12, 15, 16, 20, 30)
DEFAULT_RESOLUTION = {"free": "480p", "creator": "720p", "pro": "720p", "business": "720p"}
# Resolutions sent explicitly with no model: the free tier only at its own default (the reference
# does not say which higher resolutions it unlocks), paid tiers every resolution.
DEFAULT_EXPLICIT_RESOLUTIONS = {
    "free": ("480p",),
    "creator": ("480p", "720p", "1080p", "4k"),
    "pro": ("480p", "720p", "1080p", "4k"),
    "business": ("480p", "720p", "1080p", "4k"),
}


def picked_model(plan: str, resolution: str, seconds: int) -> str:
    if plan == "free":
        return "ltx-2.3"
    if resolution == "480p":
        return "seedance-1.5"
    return "ltx-2.3" if seconds > 15 else "kling-3.0"


def video_rate(model: str, resolution: str, audio: bool) -> int:
    spec = VIDEO_MODELS[model]
    rate = spec["rates"][resolution]
    if not audio or spec["audio"] == "included":
        return rate
    if spec["audio"] == "double":
        return rate * 2
    return rate + spec["audio"][resolution]


def video_allows(model: str, resolution: str, seconds: int, audio: bool) -> bool:
    spec = VIDEO_MODELS[model]
    return (
        resolution in spec["rates"]
        and seconds in spec["durations"]
        and (not audio or spec["audio"] is not None)
    )


# ---------------------------------------------------------------------------------------------
# The reference, §2: other endpoints.
# ---------------------------------------------------------------------------------------------

# Duration-priced endpoints: credits per second of (end_seconds - start_seconds).
ANIMATION_PER_SECOND = 24  # at fps 24: 1 credit per frame
AUDIO_TO_VIDEO_PER_SECOND = {"480p": 24, "720p": 48, "1080p": 72}
AUTO_SUBTITLE_PER_SECOND = Fraction("4.8")  # 24 fps x 0.2
FACE_SWAP_PER_SECOND = 24
LIP_SYNC_PER_SECOND = {"lite": 30, "standard": 30, "pro": 60}  # 1 or 2 per frame at 30 fps
TALKING_PHOTO_PER_SECOND = {"prompted": 24, "realistic": 48}
VIDEO_TO_VIDEO_PER_SECOND = 48

# Fixed-price image endpoints: (endpoint, request body, credits).
FIXED_PRICE_IMAGE: list[tuple[str, dict[str, Any], int]] = [
    (
        "ai-clothes-changer",
        {
            "assets": {
                "person_file_path": IMAGE,
                "garment_file_path": IMAGE_2,
                "garment_type": "upper_body",
            }
        },
        25,
    ),
    ("ai-face-editor", {"assets": {"image_file_path": IMAGE}, "style": {"mouth_smile": 50}}, 1),
    ("ai-gif-generator", {"style": {"prompt": PROMPT}}, 50),
    ("ai-gif-generator", {"style": {"prompt": PROMPT}, "output_format": "mp4"}, 50),
    ("ai-headshot-generator", {"assets": {"image_file_path": IMAGE}}, 50),
    ("ai-meme-generator", {"style": {"template": "Random", "topic": "Mondays"}}, 10),
    (
        "ai-qr-code-generator",
        {"content": "https://example.com", "style": {"art_style": "Watercolor"}},
        0,
    ),
    # "50 and up per image, rising with resolution": 50 is the lowest resolution's price.
    (
        "body-swap",
        {"assets": {"person_file_path": IMAGE, "scene_file_path": IMAGE_2}, "resolution": "640px"},
        50,
    ),
    ("face-swap-photo", {"assets": {"target_file_path": IMAGE, "source_file_path": IMAGE_2}}, 10),
    ("head-swap", {"assets": {"body_file_path": IMAGE, "head_file_path": IMAGE_2}}, 10),
    ("image-background-remover", {"assets": {"image_file_path": IMAGE}}, 5),
    ("photo-colorizer", {"assets": {"image_file_path": IMAGE}}, 10),
]

# ai-image-upscaler: (scale_factor, style.mode) -> credits; mode None = no style (balanced).
UPSCALER = {
    (2, "preserve"): 25,
    (2, "balanced"): 50,
    (2, "creative"): 50,
    (4, "preserve"): 100,
    (4, "balanced"): 200,
    (4, "creative"): 200,
    (2, None): 50,
    (4, None): 200,
}

# Voice generator and cloner: 0.1 credit per character of style.prompt, rounded up.
VOICE_PER_CHARACTER = Fraction(1, 10)
VOICE_PROMPT_LENGTHS = (1, 9, 10, 11, 19, 20, 21, 99, 100, 101, 555, 999, 1000)

# Image generator and editor: price of one image at the model's lowest resolution, which
# endpoints offer the model, and the image counts tried (image_count multiplies).
COUNTS = (1, 2, 3, 4)
BIG_COUNTS = (1, 2, 3, 4, 9, 16)
GENERATOR = ("ai-image-generator",)
EDITOR = ("ai-image-editor",)
BOTH = ("ai-image-generator", "ai-image-editor")
IMAGE_MODELS: dict[str, tuple[int, str, tuple[str, ...], tuple[int, ...]]] = {
    "flux-schnell": (5, "640px", GENERATOR, COUNTS),
    "flux-2-klein": (5, "640px", BOTH, COUNTS),
    "z-image-turbo": (5, "640px", GENERATOR, COUNTS),
    "qwen-edit": (10, "640px", EDITOR, COUNTS),
    "seedream-v4": (40, "640px", BOTH, COUNTS),
    "seedream-v4.5": (50, "640px", EDITOR, COUNTS),
    "nano-banana": (50, "640px", BOTH, COUNTS),
    "nano-banana-2-lite": (50, "640px", BOTH, COUNTS),
    "gpt-image-2": (50, "640px", BOTH, COUNTS),
    "seedream-v5-pro": (75, "640px", BOTH, COUNTS),
    "nano-banana-2": (100, "640px", BOTH, BIG_COUNTS),
    "nano-banana-pro": (150, "1k", BOTH, BIG_COUNTS),
}


# ---------------------------------------------------------------------------------------------
# The rows.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    endpoint: str
    body: dict[str, Any]
    plan: str
    published: Fraction
    # When set, estimate.model / estimate.resolution must equal them.
    model: str | None = None
    resolution: str | None = None


def seconds_label(value: float) -> str:
    return f"{value:g}s"


def span_body(start: float | None, end: float) -> dict[str, Any]:
    return {"end_seconds": end} if start is None else {"start_seconds": start, "end_seconds": end}


def span_label(start: float | None, end: float) -> str:
    return seconds_label(end) if start is None else f"{start:g}-{end:g}s"


def span_length(start: float | None, end: float) -> Fraction:
    return Fraction(str(end)) - Fraction(str(start or 0))


def video_body(
    endpoint: str, seconds: int, model: str | None, resolution: str | None, audio: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"end_seconds": seconds}
    if model is not None:
        body["model"] = model
    if resolution is not None:
        body["resolution"] = resolution
    if audio:
        body["audio"] = True
    elif endpoint == "text-to-video":
        body["audio"] = False  # sent explicitly here; image-to-video leaves it out
    if endpoint == "image-to-video":
        body["assets"] = {"image_file_path": IMAGE}
    else:
        body["style"] = {"prompt": PROMPT}
    return body


def video_model_rows() -> list[Row]:
    rows = []
    for endpoint in VIDEO_ENDPOINTS:
        for model, spec in VIDEO_MODELS.items():
            audios = (False,) if spec["audio"] is None else (False, True)
            for resolution in spec["rates"]:
                for audio in audios:
                    rate = video_rate(model, resolution, audio)
                    for seconds in spec["durations"]:
                        tag = "-audio" if audio else ""
                        rows.append(
                            Row(
                                id=f"{endpoint}-{model}-{resolution}{tag}-{seconds}s-{PLAN}",
                                endpoint=endpoint,
                                body=video_body(endpoint, seconds, model, resolution, audio),
                                plan=PLAN,
                                published=Fraction(seconds * rate),
                                model=model,
                                resolution=resolution,
                            )
                        )
        for alias, model in AUDIO_ALIASES.items():
            spec = VIDEO_MODELS[model]
            for resolution in spec["rates"]:
                rate = video_rate(model, resolution, audio=True)
                for seconds in spec["durations"]:
                    rows.append(
                        Row(
                            id=f"{endpoint}-{alias}-{resolution}-{seconds}s-{PLAN}",
                            endpoint=endpoint,
                            body=video_body(endpoint, seconds, alias, resolution, audio=False),
                            plan=PLAN,
                            published=Fraction(seconds * rate),
                            resolution=resolution,
                        )
                    )
    return rows


def default_model_rows() -> list[Row]:
    rows = []
    for plan in PLANS:
        resolutions = (None, *DEFAULT_EXPLICIT_RESOLUTIONS[plan])
        for endpoint in VIDEO_ENDPOINTS:
            for sent_model in (None, "default"):
                for sent_resolution in resolutions:
                    resolution = sent_resolution or DEFAULT_RESOLUTION[plan]
                    for audio in (False, True):
                        for seconds in DEFAULT_DURATIONS:
                            model = picked_model(plan, resolution, seconds)
                            if not video_allows(model, resolution, seconds, audio):
                                continue
                            label = "-".join(
                                [
                                    endpoint,
                                    "nomodel" if sent_model is None else "default",
                                    sent_resolution or "nores",
                                    *(["audio"] if audio else []),
                                    f"{seconds}s",
                                    plan,
                                ]
                            )
                            body = video_body(endpoint, seconds, sent_model, sent_resolution, audio)
                            rate = video_rate(model, resolution, audio)
                            rows.append(
                                Row(
                                    id=label,
                                    endpoint=endpoint,
                                    body=body,
                                    plan=plan,
                                    published=Fraction(seconds * rate),
                                    model=model,
                                    resolution=resolution,
                                )
                            )
    return rows


def duration_priced_rows() -> list[Row]:
    rows = []

    def add(endpoint: str, label: str, body: dict[str, Any], published: Fraction) -> None:
        rows.append(Row(f"{endpoint}-{label}-{PLAN}", endpoint, body, PLAN, published))

    # animation: no start_seconds; fps 24 means 1 credit per frame.
    for end in (1, 3, 5, 7.5, 10, 15, 30, 60):
        body = {
            "assets": {"audio_source": "none", "image_file_path": IMAGE},
            "end_seconds": end,
            "fps": 24,
            "width": 512,
            "height": 512,
            "style": {
                "art_style": "3D Render",
                "camera_effect": "Accelerate",
                "prompt": PROMPT,
                "prompt_type": "custom",
                "transition_speed": 5,
            },
        }
        add("animation", f"24fps-{seconds_label(end)}", body, span_length(None, end) * 24)

    for resolution, rate in AUDIO_TO_VIDEO_PER_SECOND.items():
        for start, end in ((None, 5), (None, 10), (0, 10), (5, 15), (2.5, 10), (30, 60)):
            body = {
                "assets": {"audio_file_path": AUDIO, "image_file_path": IMAGE},
                **span_body(start, end),
                "resolution": resolution,
            }
            label = f"{resolution}-{span_label(start, end)}"
            add("audio-to-video", label, body, span_length(start, end) * rate)

    for start, end in ((0, 1), (0, 2.5), (0, 7), (3, 10), (0, 10), (12.5, 20), (0, 60)):
        body = {
            "assets": {"video_file_path": VIDEO},
            **span_body(start, end),
            "style": {"template": "cinematic"},
        }
        label = span_label(start, end)
        published = span_length(start, end) * AUTO_SUBTITLE_PER_SECOND
        add("auto-subtitle-generator", label, body, published)

    for start, end in ((0, 2.5), (0, 5), (0, 10), (3, 10), (10, 40)):
        body = {
            "assets": {
                "video_source": "file",
                "video_file_path": VIDEO,
                "image_file_path": IMAGE,
            },
            **span_body(start, end),
        }
        label = span_label(start, end)
        add("face-swap", label, body, span_length(start, end) * FACE_SWAP_PER_SECOND)

    for mode, rate in LIP_SYNC_PER_SECOND.items():
        for start, end in ((0, 1.5), (0, 5), (0, 10), (2, 12), (30, 90)):
            body = {
                "assets": {
                    "audio_file_path": AUDIO,
                    "video_source": "file",
                    "video_file_path": VIDEO,
                },
                **span_body(start, end),
                "style": {"generation_mode": mode},
            }
            add(
                "lip-sync", f"{mode}-{span_label(start, end)}", body, span_length(start, end) * rate
            )

    talking_spans = {
        "prompted": ((0, 2.5), (0, 5), (0, 10), (5, 20), (0, 45)),
        "realistic": ((0, 2.5), (0, 5), (0, 10), (5, 20), (100, 160), (0, 300)),
    }
    for mode, rate in TALKING_PHOTO_PER_SECOND.items():
        for resolution in (None, "480p", "720p"):
            for start, end in talking_spans[mode]:
                body: dict[str, Any] = {
                    "assets": {"image_file_path": IMAGE, "audio_file_path": AUDIO},
                    **span_body(start, end),
                    "style": {"generation_mode": mode},
                }
                if resolution is not None:
                    body["resolution"] = resolution
                label = f"{mode}-{resolution or 'nores'}-{span_label(start, end)}"
                add("ai-talking-photo", label, body, span_length(start, end) * rate)

    for fps_resolution in (None, "FULL"):
        for start, end in ((0, 2.5), (0, 5), (0, 10), (5, 15), (20, 80)):
            body = {
                "assets": {"video_source": "file", "video_file_path": VIDEO},
                **span_body(start, end),
                "style": {"art_style": "3D Render"},
            }
            if fps_resolution is not None:
                body["fps_resolution"] = fps_resolution
            label = f"{fps_resolution or 'nofps'}-{span_label(start, end)}"
            published = span_length(start, end) * VIDEO_TO_VIDEO_PER_SECOND
            add("video-to-video", label, body, published)
    return rows


def image_and_audio_rows() -> list[Row]:
    rows = []
    seen: dict[str, int] = {}
    for endpoint, body, credits in FIXED_PRICE_IMAGE:
        seen[endpoint] = seen.get(endpoint, 0) + 1
        label = f"{endpoint}-{seen[endpoint]}-{PLAN}"
        rows.append(Row(label, endpoint, body, PLAN, Fraction(credits)))

    for (scale, mode), credits in UPSCALER.items():
        body: dict[str, Any] = {"assets": {"image_file_path": IMAGE}, "scale_factor": scale}
        if mode is not None:
            body["style"] = {"mode": mode}
        label = f"ai-image-upscaler-{scale}x-{mode or 'nomode'}-{PLAN}"
        rows.append(Row(label, "ai-image-upscaler", body, PLAN, Fraction(credits)))

    text = "Hello there, this is a test of the voice. " * 30
    for length in VOICE_PROMPT_LENGTHS:
        prompt = text[:length]
        assert len(prompt) == length
        published = Fraction(math.ceil(length * VOICE_PER_CHARACTER))
        generator_body = {"style": {"prompt": prompt, "voice_name": "Morgan Freeman"}}
        cloner_body = {"assets": {"audio_file_path": AUDIO}, "style": {"prompt": prompt}}
        for endpoint, body in (
            ("ai-voice-generator", generator_body),
            ("ai-voice-cloner", cloner_body),
        ):
            rows.append(Row(f"{endpoint}-{length}chars-{PLAN}", endpoint, body, PLAN, published))

    for model, (price, resolution, endpoints, counts) in IMAGE_MODELS.items():
        for endpoint in endpoints:
            for count in counts:
                body = {
                    "model": model,
                    "resolution": resolution,
                    "image_count": count,
                    "style": {"prompt": PROMPT},
                }
                if endpoint == "ai-image-editor":
                    body["assets"] = {"image_file_paths": [IMAGE]}
                label = f"{endpoint}-{model}-{resolution}-x{count}-{PLAN}"
                rows.append(Row(label, endpoint, body, PLAN, Fraction(price * count)))
    return rows


VIDEO_MODEL_ROWS = video_model_rows()
ROWS = [
    *VIDEO_MODEL_ROWS,
    *default_model_rows(),
    *duration_priced_rows(),
    *image_and_audio_rows(),
]
assert len({row.id for row in ROWS}) == len(ROWS), "row ids must be unique"


@functools.cache
def table(plan: str) -> PricingTable:
    return PricingTable.load(plan=plan)


def estimate(plan: str, endpoint: str, body: dict[str, Any]) -> Any:
    return table(plan).estimate(endpoint, copy.deepcopy(body))


# ---------------------------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_published_combination_is_priced_from_the_table(row: Row) -> None:
    result = estimate(row.plan, row.endpoint, row.body)
    assert type(result.credits) is int
    assert row.published <= Fraction(result.credits) <= row.published + 1
    assert result.basis == "table"
    if row.model is not None:
        assert result.model == row.model
    if row.resolution is not None:
        assert result.resolution == row.resolution


@pytest.mark.parametrize(
    ("endpoint", "body", "plan", "credits", "model", "resolution"),
    [
        (
            "image-to-video",
            {"end_seconds": 10, "model": "seedance-2.5", "resolution": "720p"},
            "creator",
            5760,
            "seedance-2.5",
            "720p",
        ),
        (
            "image-to-video",
            {"end_seconds": 10, "model": "kling-3.0", "resolution": "4k", "audio": True},
            "creator",
            2880,
            "kling-3.0",
            "4k",
        ),
        (
            "image-to-video",
            {"end_seconds": 8, "model": "veo3.1", "resolution": "1080p", "audio": True},
            "creator",
            1152,
            "veo3.1",
            "1080p",
        ),
        (
            "image-to-video",
            {"end_seconds": 10, "resolution": "720p"},
            "creator",
            480,
            "kling-3.0",
            "720p",
        ),
        ("image-to-video", {"end_seconds": 20}, "creator", 960, "ltx-2.3", "720p"),
        ("image-to-video", {"end_seconds": 5}, "free", 120, "ltx-2.3", "480p"),
    ],
    ids=[
        "seedance-2.5-720p-10s",
        "kling-3.0-4k-audio-10s",
        "veo3.1-1080p-audio-8s",
        "nomodel-720p-10s-creator",
        "nomodel-20s-creator",
        "nomodel-5s-free",
    ],
)
def test_named_examples(
    endpoint: str, body: dict[str, Any], plan: str, credits: int, model: str, resolution: str
) -> None:
    body = {**body, "assets": {"image_file_path": IMAGE}}
    result = estimate(plan, endpoint, body)
    assert result.credits == credits
    assert result.basis == "table"
    assert result.model == model
    assert result.resolution == resolution


def highest_published_rate(endpoint: str) -> Fraction:
    """The highest credits per second of any published model on this endpoint, from the rows."""
    return max(
        row.published / row.body["end_seconds"]
        for row in VIDEO_MODEL_ROWS
        if row.endpoint == endpoint
    )


def test_highest_published_rate_is_seedance_2_5_at_720p() -> None:
    assert highest_published_rate("image-to-video") == 576


@pytest.mark.parametrize("seconds", [5, 10])
@pytest.mark.parametrize(
    ("model", "resolution"),
    [("wan-9", "720p"), ("kling-3.0", "8k")],
    ids=["unknown-model", "unknown-resolution"],
)
def test_unpriced_model_or_resolution_falls_back_to_the_highest_rate(
    model: str, resolution: str, seconds: int
) -> None:
    body = {
        "end_seconds": seconds,
        "model": model,
        "resolution": resolution,
        "assets": {"image_file_path": IMAGE},
    }
    result = estimate("creator", "image-to-video", body)
    assert result.basis == "fallback"
    assert result.credits == highest_published_rate("image-to-video") * seconds

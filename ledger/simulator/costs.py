"""What the simulator charges for a create call: the one place where its prices live.

This is the simulator's own reading of ``/work/shared/reference/magic-hour-pricing.md``
("pricing" below; it wins over ``magic-hour-api.md``, "API", wherever they differ). It does not
look at ledger's pricing table: the two are independent readings of the reference, so a mistake
in one shows up as a difference in the tests.

**Published** (pricing §1 and §2):

- image-to-video and text-to-video: ``ceil(end_seconds x rate)``, the rate from the model x
  resolution table :data:`VIDEO_RATES` (pricing §1), plus audio (:func:`_video_rate`): kling-3.0
  +24/s at 720p and 1080p, +48/s at 4k; veo3.1 and veo3.1-lite +24/s; seedance-1.5 doubles the
  rate; ltx-2.3, minimax-h3, the seedance-2.x models and sora-2 include it. Which model and
  resolution a request gets when it names none is in ``choices``.
- animation: 1 credit per frame at the request's ``fps`` (24 fps gives the published 24/s).
- audio-to-video 24/48/72 per second at 480p/720p/1080p; auto-subtitles 4.8 per second; face swap
  24 per second; talking photo 24 per second ``prompted``, 48 ``realistic``; video-to-video 48 per
  second. Per-second charges are rounded up.
- lip-sync: 1 credit per frame (``lite``, ``standard``), 2 on ``pro``.
- images: the fixed prices of pricing §2; the upscaler by mode and factor; the generator and
  editor at the model's "from" price (pricing §2; models it does not list keep API §4.4's) at the
  model's lowest resolution, times ``image_count``.
- voice generator and cloner 0.1 per character, rounded up; music 1 per requested second (API
  §2.4, which pricing does not contradict). Face detection is free (API §2.5).
- Failed renders are never charged (pricing §1); nor are canceled ones (the simulator's choice).

**The simulator's own choices** (stand-ins for prices Magic Hour does not publish; ledger must not
expect them, and tests that rely on them say so):

- Video models with no published rate (:data:`HIDDEN_VIDEO_RATES`): ltx-2.5 and legacy ltx-2 at
  ltx-2.3's rates; wan-3.0 30/60/90 at 480p/720p/1080p; gemini-omni-1.1 48/96/120/240 at
  360p/720p/1080p/4k; seedance-2.0-fast 72/144 at 480p/720p; legacy kling-2.5 and kling-1.6 at
  kling-2.6's; legacy ``seedance`` at seedance-1.5's. Audio on them costs nothing extra.
- Endpoints with no published rate, per second of clip (:data:`HIDDEN_ENDPOINT_RATES`): UGC ad,
  video translator, video upscaler, character replace and video editor, by model and resolution.
- Lip-sync's frames are counted at ``min(30, max_fps_limit)`` fps at create time (API §2.2: an
  estimate); the video-to-video ``fps_resolution: HALF`` halves its charge.
- Image resolutions above the model's lowest (640px, 1k, 2k, 4k) cost ``x1.5`` per step, rounded
  up per image (5 at 640px: 8 at 1k, 12 at 2k, 17 at 4k); ``resolution`` absent or ``auto`` is
  1k on paid tiers, 640px on free (see ``choices``); an image model nobody named (``default``)
  costs 5 per image at 640px. (``seedream`` is seedream-v4 and the generator's deprecated
  ``quality_mode`` standard/pro is z-image-turbo/seedream-v4, as API §2.3 and §4.4 say.)
- Body swap: 50 at 640px and 1k, 100 at 2k, 150 at 4k ("50 and up, rising with resolution").
- Voice tools count characters as ``len()`` of the prompt.

**Create time and the end** (pricing §1, last two bullets; played by ``projects.plan_job``):
a :class:`Quote` holds the published charge and how it changes. With ``create_charge="30fps"``
the create response of an image-to-video or text-to-video job is a 30 FPS estimate,
``ceil(rate x end_seconds x 30 / 24)`` (seedance-1.5 and ``seedance`` render at 30 fps: x1), and
the project GET shows the published charge once the render ends. A *drifted* render (option
``drift_rate``) comes out at another frame rate: lip-sync is charged the frames at that rate,
image-to-video and text-to-video ``ceil(charge x drift_fps / model fps)``, the model fps being
24 (30 for seedance-1.5 and ``seedance``). ``price_changes`` multiply every charge of a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ledger.simulator.choices import (
    BODY_SWAP_MODELS,
    IMAGE_RESOLUTION_STEPS,
    IMAGE_RESOLUTIONS,
    clip_seconds,
    endpoint_choice,
    image_choice,
    tier_resolution,
    video_choice,
)

OUTPUT_FPS = 24.0  # the published per-second rates are 1 credit per frame at 24 fps
ESTIMATE_FPS = 30.0  # the "calculated at 30fps" estimate of pricing §1
NATIVE_30_FPS = frozenset({"seedance-1.5", "seedance"})

# pricing §1: credits per second of output
VIDEO_RATES: dict[str, dict[str, int]] = {
    "ltx-2.3": {"480p": 24, "720p": 48, "1080p": 72},
    "minimax-h3": {"480p": 24, "720p": 48, "1080p": 72},
    "wan-2.2": {"480p": 24, "720p": 48, "1080p": 72},
    "kling-2.6": {"720p": 36, "1080p": 72},
    "kling-3.0": {"720p": 48, "1080p": 72, "4k": 240},
    "veo3.1-lite": {"720p": 48, "1080p": 72},
    "veo3.1": {"720p": 96, "1080p": 120},
    "seedance-1.5": {"480p": 30, "720p": 60, "1080p": 90},
    "seedance-2.0-mini": {"480p": 96, "720p": 192},
    "seedance-2.0": {"480p": 144, "720p": 288},
    "seedance-2.5": {"480p": 288, "720p": 576},
    "sora-2": {"720p": 120},
}
# pricing §1: the audio surcharge per second, where there is one ("double" for seedance-1.5)
AUDIO_EXTRA: dict[str, dict[str, int]] = {
    "kling-3.0": {"720p": 24, "1080p": 24, "4k": 48},
    "veo3.1-lite": {"720p": 24, "1080p": 24},
    "veo3.1": {"720p": 24, "1080p": 24},
}
AUDIO_DOUBLES = frozenset({"seedance-1.5"})

# the simulator's own: video models Magic Hour publishes no rate for (audio included)
HIDDEN_VIDEO_RATES: dict[str, dict[str, int]] = {
    "ltx-2.5": VIDEO_RATES["ltx-2.3"],
    "ltx-2": VIDEO_RATES["ltx-2.3"],
    "wan-3.0": {"480p": 30, "720p": 60, "1080p": 90},
    "gemini-omni-1.1": {"360p": 48, "720p": 96, "1080p": 120, "4k": 240},
    "seedance-2.0-fast": {"480p": 72, "720p": 144},
    "kling-2.5": VIDEO_RATES["kling-2.6"],
    "kling-1.6": VIDEO_RATES["kling-2.6"],
    "seedance": VIDEO_RATES["seedance-1.5"],
}
ALL_VIDEO_RATES = VIDEO_RATES | HIDDEN_VIDEO_RATES

# pricing §2: per second of clip, by resolution
AUDIO_TO_VIDEO_RATES = {"480p": 24, "720p": 48, "1080p": 72}
SUBTITLE_RATE = 4.8
FACE_SWAP_RATE = 24
TALKING_PHOTO_RATES = {"prompted": 24, "realistic": 48}
# legacy generation modes (API §2.2)
TALKING_PHOTO_MODES = {
    "standard": "prompted",
    "expressive": "prompted",
    "pro": "realistic",
    "stable": "realistic",
}
VIDEO_TO_VIDEO_RATE = 48

_LTX_EDIT = {"480p": 24, "720p": 48, "1080p": 72}
_GEMINI_EDIT = {"720p": 72, "1080p": 96}
# the simulator's own: per second of clip, by endpoint, model ("" when it has none), resolution
HIDDEN_ENDPOINT_RATES: dict[str, dict[str, dict[str, int]]] = {
    "ai-ugc-ad": {
        "kling-3.0": {"720p": 72, "1080p": 96},
        "veo3.1": {"720p": 120, "1080p": 144},
        "ltx-2.5": {"480p": 24, "720p": 48, "1080p": 72},
    },
    "ai-video-translator": {"": {"480p": 36, "720p": 60, "1080p": 84}},
    "ai-video-upscaler": {"": {"720p": 24, "1080p": 48, "2k": 96, "4k": 192}},
    "character-replace": {
        "wan-animate": {"480p": 24, "720p": 48},
        "kling-3.0": {"720p": 48, "1080p": 72},
    },
    "ai-video-editor": {
        "ltx-2.3": _LTX_EDIT,
        "ltx-2.5": _LTX_EDIT,
        "gemini-omni": _GEMINI_EDIT,
        "gemini-omni-1.1": _GEMINI_EDIT,
    },
}

# pricing §2 ("from", at the model's lowest resolution); krea-2, qwen-image-2.1, nano-banana-2.1
# and gpt-image-2.5-flare from API §4.4; "default" is the simulator's own
IMAGE_MODEL_PRICES: dict[str, int] = {
    "default": 5,
    "flux-2-klein": 5,
    "flux-schnell": 5,
    "z-image-turbo": 5,
    "krea-2": 10,
    "qwen-image-2.1": 10,
    "qwen-edit": 10,
    "seedream-v4": 40,
    "seedream-v4.5": 50,
    "nano-banana": 50,
    "nano-banana-2-lite": 50,
    "nano-banana-2.1": 50,
    "gpt-image-2": 50,
    "seedream-v5-pro": 75,
    "nano-banana-2": 100,
    "gpt-image-2.5-flare": 100,
    "nano-banana-pro": 150,
}
IMAGE_STEP_FACTOR = 1.5  # the simulator's own: per resolution step above the model's lowest

FIXED_IMAGE_PRICES: dict[str, int] = {
    "ai-clothes-changer": 25,
    "ai-face-editor": 1,
    "ai-gif-generator": 50,
    "ai-headshot-generator": 50,
    "ai-meme-generator": 10,
    "ai-qr-code-generator": 0,
    "face-swap-photo": 10,
    "head-swap": 10,
    "image-background-remover": 5,
    "photo-colorizer": 10,
}
BODY_SWAP_PRICES = {"640px": 50, "1k": 50, "2k": 100, "4k": 150}

Drift = Literal["none", "frames", "rate"]


@dataclass(frozen=True)
class Quote:
    """A create call's published charge and how it can change.

    ``credits`` is what the job costs rendered at ``fps``, its output frame rate. ``drift`` says
    what a render at another rate costs (:meth:`settle`): ``frames``, the frames at that rate x
    ``credits_per_frame``; ``rate``, the charge scaled by the rates; ``none``, the same.
    ``estimate_30fps``: the create-time charge of a 30 FPS estimate, where Magic Hour may give
    one. ``seconds`` (the clip or audio length) and ``image_count`` drive the render time;
    ``model`` is the model the job really uses, for ``price_changes``.
    """

    credits: int
    model: str | None = None
    resolution: str | None = None
    fps: float = OUTPUT_FPS
    drift: Drift = "none"
    credits_per_frame: int = 1
    seconds: float = 0.0
    image_count: int = 1
    estimate_30fps: int | None = None

    def at_create(self, create_charge: str) -> int:
        """``credits_charged`` of the create response (``create_charge``: see the options)."""
        if create_charge == "30fps" and self.estimate_30fps is not None:
            return self.estimate_30fps
        return self.credits

    def create_fps(self, create_charge: str) -> float:
        """The ``fps`` the project GET shows until the render ends."""
        if create_charge == "30fps" and self.estimate_30fps is not None:
            return ESTIMATE_FPS
        return self.fps

    def settle(self, actual_fps: float) -> int:
        """The final charge of a render that came out at ``actual_fps``."""
        if self.drift == "frames":
            return frames(actual_fps, self.seconds) * self.credits_per_frame
        if self.drift == "rate" and actual_fps != self.fps:
            return ceil(self.credits * actual_fps / self.fps)
        return self.credits


UNPAYABLE = 2**63 - 1  # a charge past a double (1e200 fps x 1e200 s): no account can pay it


def ceil(credits: float) -> int:
    """Round a charge up; round() first, so that 30 x 0.1 (= 3.0000000000000004) is 3, not 4."""
    if not math.isfinite(credits):
        return UNPAYABLE
    return math.ceil(round(credits, 6))


def frames(fps: float, seconds: float) -> int:
    return ceil(fps * seconds)


def scaled(credits: int, factor: float) -> int:
    """A charge after a price change by ``factor`` (rounded up)."""
    return credits if factor == 1 else ceil(credits * factor)


def _video_rate(model: str, resolution: str, audio: bool) -> float:
    rate: float = ALL_VIDEO_RATES[model][resolution]
    if audio:
        if model in AUDIO_DOUBLES:
            rate *= 2
        rate += AUDIO_EXTRA.get(model, {}).get(resolution, 0)
    return rate


def _generated_video(body: dict[str, Any], tier: str) -> Quote:
    """image-to-video and text-to-video (pricing §1)."""
    choice = video_choice(body, tier)
    model, resolution = choice.model or "", choice.resolution or ""
    seconds = float(body["end_seconds"])
    rate = _video_rate(model, resolution, choice.audio)
    fps = ESTIMATE_FPS if model in NATIVE_30_FPS else OUTPUT_FPS
    return Quote(
        credits=ceil(rate * seconds),
        model=model,
        resolution=resolution,
        fps=fps,
        drift="rate",
        seconds=seconds,
        estimate_30fps=ceil(rate * seconds * ESTIMATE_FPS / fps),
    )


def _per_second(seconds: float, rate: float, **more: Any) -> Quote:
    return Quote(credits=ceil(rate * seconds), seconds=seconds, **more)


def _video(endpoint: str, body: dict[str, Any], tier: str) -> Quote:
    if endpoint in ("image-to-video", "text-to-video"):
        return _generated_video(body, tier)
    seconds = clip_seconds(body)
    if endpoint == "animation":
        fps = float(body["fps"])
        return Quote(credits=frames(fps, seconds), fps=fps, seconds=seconds)
    if endpoint == "lip-sync":
        limit = body.get("max_fps_limit")
        fps = min(ESTIMATE_FPS, float(limit)) if limit else ESTIMATE_FPS
        per_frame = 2 if (body.get("style") or {}).get("generation_mode") == "pro" else 1
        return Quote(
            credits=frames(fps, seconds) * per_frame,
            fps=fps,
            drift="frames",
            credits_per_frame=per_frame,
            seconds=seconds,
        )
    if endpoint == "audio-to-video":
        resolution = body.get("resolution") or tier_resolution(tier)
        return _per_second(seconds, AUDIO_TO_VIDEO_RATES[resolution], resolution=resolution)
    if endpoint == "auto-subtitle-generator":
        return _per_second(seconds, SUBTITLE_RATE)
    if endpoint == "face-swap":
        return _per_second(seconds, FACE_SWAP_RATE)
    if endpoint == "ai-talking-photo":
        mode = (body.get("style") or {}).get("generation_mode") or "realistic"
        mode = TALKING_PHOTO_MODES.get(mode, mode)
        return _per_second(seconds, TALKING_PHOTO_RATES[mode])
    if endpoint == "video-to-video":
        half = body.get("fps_resolution") == "HALF"
        rate = VIDEO_TO_VIDEO_RATE / 2 if half else VIDEO_TO_VIDEO_RATE
        return _per_second(seconds, rate, fps=OUTPUT_FPS / 2 if half else OUTPUT_FPS)
    if endpoint == "ai-video-translator":
        resolution = body.get("resolution") or "480p"  # API §2.2: 480p is the default
        rate = HIDDEN_ENDPOINT_RATES[endpoint][""][resolution]
        return _per_second(seconds, rate, resolution=resolution)
    if endpoint == "ai-video-upscaler":
        resolution = body["resolution"]
        rate = HIDDEN_ENDPOINT_RATES[endpoint][""][resolution]
        return _per_second(seconds, rate, resolution=resolution)
    choice = endpoint_choice(endpoint, body, tier)
    model, resolution = choice.model or "", choice.resolution or ""
    rate = HIDDEN_ENDPOINT_RATES[endpoint][model][resolution]
    return _per_second(seconds, rate, model=model, resolution=resolution)


def image_price(model: str, resolution: str) -> int:
    """One image of ``model`` at ``resolution``: its "from" price, x1.5 per step above."""
    offered = IMAGE_RESOLUTIONS.get(model, IMAGE_RESOLUTION_STEPS)
    steps = IMAGE_RESOLUTION_STEPS.index(resolution) - IMAGE_RESOLUTION_STEPS.index(offered[0])
    return ceil(IMAGE_MODEL_PRICES[model] * IMAGE_STEP_FACTOR ** max(steps, 0))


def _image(endpoint: str, body: dict[str, Any], tier: str) -> Quote:
    if endpoint in FIXED_IMAGE_PRICES:
        return Quote(credits=FIXED_IMAGE_PRICES[endpoint])
    if endpoint in ("ai-image-editor", "ai-image-generator"):
        count = int(body.get("image_count") or 1)
        choice = image_choice(endpoint, body, tier)
        model, resolution = choice.model or "default", choice.resolution or "1k"
        return Quote(
            credits=image_price(model, resolution) * count,
            model=model,
            resolution=resolution,
            image_count=count,
        )
    if endpoint == "ai-image-upscaler":
        mode = (body.get("style") or {}).get("mode") or "balanced"
        cheap = mode in ("preserve", "pro")
        if float(body["scale_factor"]) >= 4:
            return Quote(credits=100 if cheap else 200)
        return Quote(credits=25 if cheap else 50)
    if endpoint == "body-swap":
        resolution = body["resolution"]
        return Quote(
            credits=BODY_SWAP_PRICES[resolution],
            model=BODY_SWAP_MODELS.get(resolution, "nano-banana-2"),
            resolution=resolution,
        )
    raise KeyError(endpoint)


def _audio(endpoint: str, body: dict[str, Any], tier: str) -> Quote:
    if endpoint == "ai-music-generator":
        seconds = float(body["duration"])
        return Quote(credits=ceil(seconds), seconds=seconds)
    prompt = body["style"]["prompt"]
    # a speaking rate of ~15 characters per second gives the clip length (for render time only)
    return Quote(credits=math.ceil(len(prompt) / 10), seconds=len(prompt) / 15)


QUOTERS: dict[str, Callable[[str, dict[str, Any], str], Quote]] = {
    "video": _video,
    "image": _image,
    "audio": _audio,
    "face": lambda endpoint, body, tier: Quote(credits=0),
}


def quote(kind: str, endpoint: str, body: dict[str, Any], tier: str) -> Quote:
    """The charge for a create call on ``endpoint`` (of ``kind``) with a body ``catalog`` has
    validated for an account on ``tier``."""
    return QUOTERS[kind](endpoint, body, tier)

"""What the simulator charges for a create call: the one place where prices live.

From the reference (``magic-hour-api.md`` §2 and §4):

- Per-frame video tools (image-to-video, text-to-video, face-swap, lip-sync, video-to-video, and
  audio-to-video, the video editor and character-replace, which "charge rendered frames") charge an
  estimate of ``ceil(30 FPS x seconds) x credits per frame`` at create time and settle to the
  frames actually rendered when the project completes (see ``drift`` in the options).
- Animation estimates with the request's own ``fps x end_seconds``.
- Lip-sync costs 1 credit per frame (lite, standard) or 2 (pro), at ``min(30, max_fps_limit)``.
- Video-to-video at ``fps_resolution: HALF`` renders half the frames (15 FPS).
- Image and audio tools: the listed prices (the ``create()`` docstrings win over older
  ``generate()`` ones); the image editor and generator charge the model's "from" price per image.
- Music: 1 credit per requested second; voice tools: 0.1 credit per prompt character, rounded up.
- Face detection is free.

Where the reference gives no number, this module chooses, so that the simulator agrees with the
ledger's default pricing table (1 credit per frame at 30 FPS):

- **Video model, resolution and audio do not change the price.** Every model is 1 credit per frame;
  the reference names an audio surcharge for some models but no amount, so there is none.
- **Per-second video tools** (talking photo, UGC ad, translator, upscaler, auto-subtitles) charge
  the final amount up front at 30 credits per second of clip, rounded up, and never drift.
- **Image models without a listed price** (``default``, deprecated ``seedream``) cost 5 credits per
  image, the price of the cheapest models and of the reference's example responses.
- **Body swap**: 50 credits at 640px and 1k, 100 at 2k, 150 at 4k ("from 50, rising").
- **Image resolution** does not change image prices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ESTIMATE_FPS = 30.0
PER_SECOND_RATE = 30  # credits per clip second for per-second video tools (chosen, see above)
DEFAULT_IMAGE_MODEL_PRICE = 5

IMAGE_MODEL_PRICES: dict[str, int] = {
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

# Video endpoints whose charge is an estimate settled to the rendered frames at completion.
PER_FRAME_VIDEO = frozenset(
    {
        "image-to-video",
        "text-to-video",
        "face-swap",
        "lip-sync",
        "video-to-video",
        "animation",
        "audio-to-video",
        "ai-video-editor",
        "character-replace",
    }
)
PER_SECOND_VIDEO = frozenset(
    {
        "ai-talking-photo",
        "ai-ugc-ad",
        "ai-video-translator",
        "ai-video-upscaler",
        "auto-subtitle-generator",
    }
)


@dataclass(frozen=True)
class Quote:
    """The charge at create time and what it depends on.

    ``per_frame``: the charge is an estimate; at completion it becomes
    ``ceil(actual_fps x seconds) x credits_per_frame``. ``seconds`` is the clip (or audio)
    length, which also drives the simulated render time.
    """

    credits: int
    per_frame: bool = False
    fps: float = ESTIMATE_FPS
    credits_per_frame: int = 1
    seconds: float = 0.0
    image_count: int = 1

    def settle(self, actual_fps: float) -> int:
        """Credits for the frames actually rendered at ``actual_fps``."""
        if not self.per_frame:
            return self.credits
        return frames(actual_fps, self.seconds) * self.credits_per_frame


def frames(fps: float, seconds: float) -> int:
    # round() first so that 30 x 0.1 (= 3.0000000000000004) is 3 frames, not 4
    return math.ceil(round(fps * seconds, 6))


def clip_seconds(body: dict[str, Any]) -> float:
    """``end_seconds - start_seconds`` (start defaults to 0)."""
    return float(body["end_seconds"]) - float(body.get("start_seconds") or 0.0)


def _per_frame(seconds: float, fps: float = ESTIMATE_FPS, credits_per_frame: int = 1) -> Quote:
    return Quote(
        credits=frames(fps, seconds) * credits_per_frame,
        per_frame=True,
        fps=fps,
        credits_per_frame=credits_per_frame,
        seconds=seconds,
    )


def _video(endpoint: str, body: dict[str, Any]) -> Quote:
    seconds = clip_seconds(body)
    if endpoint == "animation":
        return _per_frame(seconds, fps=float(body["fps"]))
    if endpoint == "lip-sync":
        limit = body.get("max_fps_limit")
        fps = min(ESTIMATE_FPS, float(limit)) if limit else ESTIMATE_FPS
        mode = (body.get("style") or {}).get("generation_mode")
        return _per_frame(seconds, fps=fps, credits_per_frame=2 if mode == "pro" else 1)
    if endpoint == "video-to-video":
        half = body.get("fps_resolution") == "HALF"
        return _per_frame(seconds, fps=ESTIMATE_FPS / 2 if half else ESTIMATE_FPS)
    if endpoint in PER_FRAME_VIDEO:
        return _per_frame(seconds)
    return Quote(credits=math.ceil(round(PER_SECOND_RATE * seconds, 6)), seconds=seconds)


def _image(endpoint: str, body: dict[str, Any]) -> Quote:
    if endpoint in FIXED_IMAGE_PRICES:
        return Quote(credits=FIXED_IMAGE_PRICES[endpoint])
    if endpoint in ("ai-image-editor", "ai-image-generator"):
        count = int(body.get("image_count") or 1)
        price = IMAGE_MODEL_PRICES.get(body.get("model") or "default", DEFAULT_IMAGE_MODEL_PRICE)
        return Quote(credits=price * count, image_count=count)
    if endpoint == "ai-image-upscaler":
        mode = (body.get("style") or {}).get("mode") or "balanced"
        cheap = mode in ("preserve", "pro")
        if float(body["scale_factor"]) >= 4:
            return Quote(credits=100 if cheap else 200)
        return Quote(credits=25 if cheap else 50)
    if endpoint == "body-swap":
        return Quote(credits=BODY_SWAP_PRICES[body["resolution"]])
    raise KeyError(endpoint)


def _audio(endpoint: str, body: dict[str, Any]) -> Quote:
    if endpoint == "ai-music-generator":
        seconds = float(body["duration"])
        return Quote(credits=int(seconds), seconds=seconds)
    prompt = body["style"]["prompt"]
    # a speaking rate of ~15 characters per second gives the clip length (for render time only)
    return Quote(credits=math.ceil(len(prompt) / 10), seconds=len(prompt) / 15)


QUOTERS: dict[str, Callable[[str, dict[str, Any]], Quote]] = {
    "video": _video,
    "image": _image,
    "audio": _audio,
    "face": lambda endpoint, body: Quote(credits=0),
}


def quote(kind: str, endpoint: str, body: dict[str, Any]) -> Quote:
    """The charge for a create call on ``endpoint`` (of ``kind``) with a validated ``body``."""
    return QUOTERS[kind](endpoint, body)

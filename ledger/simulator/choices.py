"""What Magic Hour picks when a request leaves it open, and what each model offers.

Both halves of the simulator read this: ``catalog`` refuses what a model does not offer, and
``costs`` prices what was picked. The facts come from ``magic-hour-pricing.md`` (which wins
wherever it differs from ``magic-hour-api.md``):

- image-to-video and text-to-video (pricing §1): ``model`` absent or ``default`` is ltx-2.3 on the
  free tier; on paid tiers seedance-1.5 at 480p, otherwise ltx-2.3 for clips longer than 15 s and
  kling-3.0 for 15 s or less. ``resolution`` absent is 480p on free, 720p on paid, unless the
  deprecated ``style.high_quality`` (true 1080p, false 720p) or ``style.quality_mode`` (studio
  1080p, quick 720p) says otherwise (API §2.2). ``kling-2.5-audio`` and ``veo3.1-audio`` are the
  base model with audio on. Resolutions per model are the columns of pricing §1 without a "—";
  models it does not list offer what API §4.3 says, legacy ones what their stand-in rate has.
- UGC ad, character replace, the video editor (API §2.2) and the image models (API §4.4).

The simulator's own choice, where neither reference says: a *default* resolution (one the
request did not ask for) that the model lacks becomes the model's lowest one; a resolution the
request names and the model lacks is refused (by ``catalog``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAID_TIERS = frozenset({"creator", "pro", "business"})

_R3 = ("480p", "720p", "1080p")
_HD = ("720p", "1080p")

# image-to-video and text-to-video, lowest resolution first
VIDEO_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    # pricing §1
    "ltx-2.3": _R3,
    "minimax-h3": _R3,
    "wan-2.2": _R3,
    "kling-2.6": _HD,
    "kling-3.0": ("720p", "1080p", "4k"),
    "veo3.1-lite": _HD,
    "veo3.1": _HD,
    "seedance-1.5": _R3,
    "seedance-2.0-mini": ("480p", "720p"),
    "seedance-2.0": ("480p", "720p"),
    "seedance-2.5": ("480p", "720p"),
    "sora-2": ("720p",),
    # API §4.3 only (no published rate)
    "ltx-2.5": _R3,
    "wan-3.0": _R3,
    "gemini-omni-1.1": ("360p", "720p", "1080p", "4k"),
    "seedance-2.0-fast": ("480p", "720p"),
    # legacy values: what the model whose rates they are charged offers (see costs)
    "ltx-2": _R3,
    "kling-2.5": _HD,
    "kling-1.6": _HD,
    "seedance": _R3,
}
VIDEO_ALIASES = {"kling-2.5-audio": "kling-2.5", "veo3.1-audio": "veo3.1"}  # with audio on

# the other endpoints with a model (API §2.2); default model first
UGC_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "kling-3.0": _HD,
    "veo3.1": _HD,
    "ltx-2.5": _R3,
}
CHARACTER_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "wan-animate": ("480p", "720p"),
    "kling-3.0": _HD,
}
EDITOR_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "ltx-2.5": _R3,
    "ltx-2.3": _R3,
    "gemini-omni-1.1": _HD,
    "gemini-omni": _HD,
}

IMAGE_RESOLUTION_STEPS = ("640px", "1k", "2k", "4k")
_IMAGE_ALL = IMAGE_RESOLUTION_STEPS
_IMAGE_TO_2K = ("640px", "1k", "2k")
_IMAGE_TO_1K = ("640px", "1k")
# API §4.4; "default" is the simulator's stand-in for an image model nobody named
IMAGE_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "default": _IMAGE_ALL,
    "flux-2-klein": _IMAGE_TO_2K,
    "flux-schnell": _IMAGE_TO_2K,
    "z-image-turbo": _IMAGE_TO_2K,
    "krea-2": _IMAGE_TO_1K,
    "qwen-image-2.1": _IMAGE_TO_2K,
    "qwen-edit": _IMAGE_TO_2K,
    "seedream-v4": _IMAGE_ALL,
    "seedream-v4.5": _IMAGE_ALL,
    "nano-banana": _IMAGE_TO_1K,
    "nano-banana-2-lite": _IMAGE_TO_1K,
    "nano-banana-2.1": _IMAGE_ALL,
    "gpt-image-2": _IMAGE_ALL,
    "seedream-v5-pro": _IMAGE_TO_2K,
    "nano-banana-2": _IMAGE_ALL,
    "gpt-image-2.5-flare": _IMAGE_ALL,
    "nano-banana-pro": ("1k", "2k", "4k"),
}
# deprecated names (API §4.4 notes and the generator's style.quality_mode)
IMAGE_ALIASES = {"seedream": "seedream-v4"}
QUALITY_MODE_MODELS = {"standard": "z-image-turbo", "pro": "seedream-v4"}
# body swap renders with Nano Banana 2 Lite at 640px and 1k, Nano Banana 2 above (API §2.3)
BODY_SWAP_MODELS = {"640px": "nano-banana-2-lite", "1k": "nano-banana-2-lite"}

MODEL_NAMES = frozenset(
    set(VIDEO_RESOLUTIONS)
    | set(UGC_RESOLUTIONS)
    | set(CHARACTER_RESOLUTIONS)
    | set(EDITOR_RESOLUTIONS)
    | (set(IMAGE_RESOLUTIONS) - {"default"})
)


@dataclass(frozen=True)
class Choice:
    """The model and resolution a request gets (``model`` None: the endpoint has none)."""

    model: str | None
    resolution: str | None
    audio: bool = False


def clip_seconds(body: dict[str, Any]) -> float:
    """``end_seconds - start_seconds`` (start defaults to 0)."""
    return float(body["end_seconds"]) - float(body.get("start_seconds") or 0.0)


def tier_resolution(tier: str) -> str:
    """The video resolution a plan gets when the request names none."""
    return "720p" if tier in PAID_TIERS else "480p"


def _fit(wanted: str, offered: tuple[str, ...]) -> str:
    """A default resolution the model lacks becomes its lowest (the simulator's choice)."""
    return wanted if wanted in offered or not offered else offered[0]


def _deprecated_quality(style: dict[str, Any]) -> str | None:
    if style.get("high_quality") is not None:
        return "1080p" if style["high_quality"] else "720p"
    mode = style.get("quality_mode")
    if mode is not None:
        return {"studio": "1080p", "quick": "720p"}.get(mode)
    return None


def video_choice(body: dict[str, Any], tier: str) -> Choice:
    """image-to-video and text-to-video: the model, resolution and audio Magic Hour uses."""
    asked = body.get("resolution") or _deprecated_quality(body.get("style") or {})
    resolution = asked or tier_resolution(tier)
    name = body.get("model") or "default"
    audio = bool(body.get("audio")) or name in VIDEO_ALIASES
    name = VIDEO_ALIASES.get(name, name)
    if name == "default":
        if tier not in PAID_TIERS:
            name = "ltx-2.3"
        elif resolution == "480p":
            name = "seedance-1.5"
        elif float(body["end_seconds"]) > 15:
            name = "ltx-2.3"
        else:
            name = "kling-3.0"
    if not asked:
        resolution = _fit(resolution, VIDEO_RESOLUTIONS.get(name, ()))
    return Choice(name, resolution, audio)


def endpoint_choice(endpoint: str, body: dict[str, Any], tier: str) -> Choice:
    """UGC ad, character replace and the video editor: their model and resolution."""
    asked = body.get("resolution")
    if endpoint == "ai-ugc-ad":
        model = body.get("model") or "kling-3.0"
        wanted, offered = tier_resolution(tier), UGC_RESOLUTIONS.get(model, ())
    elif endpoint == "character-replace":
        model = body.get("model") or "wan-animate"
        offered = CHARACTER_RESOLUTIONS.get(model, ())
        wanted = offered[0] if offered else "480p"  # "the lowest the plan allows" (API §2.2)
    elif endpoint == "ai-video-editor":
        # API §2.2: LTX 2.5 at 480p on free plans, gemini-omni-1.1 at 720p on paid ones
        model = body.get("model") or ("gemini-omni-1.1" if tier in PAID_TIERS else "ltx-2.5")
        wanted, offered = tier_resolution(tier), EDITOR_RESOLUTIONS.get(model, ())
    else:
        raise KeyError(endpoint)
    return Choice(model, asked or _fit(wanted, offered))


def image_choice(endpoint: str, body: dict[str, Any], tier: str) -> Choice:
    """The image generator and editor: the model and the resolution it renders at.

    ``resolution`` absent or ``auto`` (deprecated, "mapped from the plan on the server") is 1k
    on paid tiers and 640px on free ones (the simulator's choice), fitted to the model.
    """
    model: str = body.get("model") or "default"
    if model == "default" and endpoint == "ai-image-generator":
        quality_mode = str((body.get("style") or {}).get("quality_mode"))
        model = QUALITY_MODE_MODELS.get(quality_mode, model)
    model = IMAGE_ALIASES.get(model, model)
    asked = body.get("resolution")
    if asked in (None, "auto"):
        wanted = "1k" if tier in PAID_TIERS else "640px"
        return Choice(model, _fit(wanted, IMAGE_RESOLUTIONS.get(model, _IMAGE_ALL)))
    return Choice(model, asked)

"""Every create endpoint of the reference: its kind, project type, body schema and constraints.

The schemas follow ``magic-hour-api.md`` §2 (required and optional fields, the enums it lists) and
the per-model tables of §4.3 and §4.4; for the models ``magic-hour-pricing.md`` §1 lists, its
durations and resolutions win. Ranges and lengths (``minimum``, ``maximum``, ``maxLength``,
``maxItems``, ``multipleOf``) are those of Magic Hour's official API description
(``magichourhq/docs``, ``api-reference/openapi.json``). What a model offers and what a request gets
when it leaves the model or resolution open are in ``choices``. Enums too long to copy (art styles,
camera effects, meme templates, voice names, image-generator tools, target languages) are read
from the official SDK's request types (``official``).

Nothing here knows about HTTP; :func:`validate` raises :class:`BodyInvalid`: status 400 for a
body of the wrong shape (the schema), 422 for one the service cannot make (the rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ledger.simulator import choices, official
from ledger.simulator import schema as s
from ledger.simulator.choices import clip_seconds
from ledger.simulator.schema import BodyInvalid

Kind = Literal["video", "image", "audio", "face"]
Rule = Callable[[dict[str, Any], str], None]  # (body, account tier) -> None or BodyInvalid


@dataclass(frozen=True)
class Tool:
    """One create endpoint: ``POST /v1/{endpoint}``."""

    endpoint: str
    kind: Kind
    project_type: str
    spec: s.Spec
    rules: tuple[Rule, ...] = field(default=())
    output: str = ""  # file name served as the download ("" = the kind's default)

    @property
    def output_name(self) -> str:
        return self.output or DEFAULT_OUTPUT[self.kind]


DEFAULT_OUTPUT = {"video": "output.mp4", "image": "output.png", "audio": "output.mp3", "face": ""}

# -- shared pieces -------------------------------------------------------------------------------

NAME = s.string(non_empty=False)
ASSET = s.asset_path()
START = s.number(0)
END = s.number(0.1)  # the description's minimum for every video endpoint it has
END_ANY = s.number(0, above=True)  # UGC ad, translator, upscaler: not in the description
GENERATED_END = s.number(1, 60)  # image-to-video and text-to-video
MAX_SIDE = 4096  # the simulator's choice: "the maximum width depends on your subscription"
VIDEO_SOURCE = s.enum("file", "youtube")
RES_3 = s.enum("480p", "720p", "1080p")
T2V_RES = s.enum("360p", "480p", "720p", "1080p", "4k")
IMAGE_RES = s.enum("640px", "1k", "2k", "4k", "auto")
FACE_MAPPING = s.obj({"original_face": s.string(), "new_face": ASSET})
FACE_MAPPINGS = s.array(FACE_MAPPING, max_items=5)


def sdk_enum(type_name: str, key: str) -> s.Spec:
    """An enum as long as the SDK's ``Literal`` for ``type_name.key`` (see ``official``)."""
    return s.enum(*official.literal_values(type_name, key))


ASPECTS_ALL = frozenset({"16:9", "1:1", "9:16"})
ASPECTS_WIDE = frozenset({"16:9", "9:16"})


def end_after_start(body: dict[str, Any], tier: str) -> None:
    if "end_seconds" in body and clip_seconds(body) <= 0:
        raise BodyInvalid("end_seconds", "must be greater than start_seconds")


def clip_between(low: float, high: float) -> Rule:
    def rule(body: dict[str, Any], tier: str) -> None:
        seconds = clip_seconds(body)
        if not low <= seconds <= high:
            raise BodyInvalid("end_seconds", f"clip must be {low:g}-{high:g} s, got {seconds:g}")

    return rule


def _fail_if(condition: bool, path: str, message: str) -> None:
    if condition:
        raise BodyInvalid(path, message)


def no_start_seconds(body: dict[str, Any], tier: str) -> None:
    """Endpoints whose ``end_seconds`` is the whole duration have no ``start_seconds``."""
    _fail_if(
        "start_seconds" in body,
        "start_seconds",
        "this endpoint has no start_seconds (end_seconds is the duration)",
    )


def _offers(model: str, resolution: str | None, offered: tuple[str, ...]) -> None:
    _fail_if(
        resolution is not None and resolution not in offered,
        "resolution",
        f"{model} supports {', '.join(offered)}, got {resolution}",
    )


# -- image-to-video and text-to-video (pricing §1, API §4.3) --------------------------------------


@dataclass(frozen=True)
class VideoModel:
    durations: frozenset[int] | None  # None: any (legacy values, no published limits)
    aspects: frozenset[str] = ASPECTS_ALL
    end_frame: bool = True
    references: bool = False


def _ints(low: int, high: int, *more: int) -> frozenset[int]:
    return frozenset(range(low, high + 1)) | frozenset(more)


_LTX_SECONDS = _ints(1, 10, 15, 20, 25, 30)
_VEO_SECONDS = frozenset({4, 6, 8, 16, 24, 32, 40, 48, 56})
# Durations: pricing §1 for the models it lists, API §4.3 for the others. What the reference
# does not say (sora-2's and ltx-2.3's aspects, end frames, references) is not refused.
VIDEO_MODELS: dict[str, VideoModel] = {
    "ltx-2.3": VideoModel(_LTX_SECONDS, references=True),
    "minimax-h3": VideoModel(_LTX_SECONDS, references=True),
    "wan-2.2": VideoModel(_ints(3, 10, 15), end_frame=False),
    "kling-2.6": VideoModel(frozenset({5, 10})),
    "kling-3.0": VideoModel(_ints(3, 15), references=True),
    "veo3.1-lite": VideoModel(_VEO_SECONDS, ASPECTS_WIDE),
    "veo3.1": VideoModel(_VEO_SECONDS, ASPECTS_WIDE, True, True),
    "seedance-1.5": VideoModel(_ints(4, 12)),
    "seedance-2.0-mini": VideoModel(_ints(4, 15), references=True),
    "seedance-2.0": VideoModel(_ints(4, 15), references=True),
    "seedance-2.5": VideoModel(_ints(4, 30), references=True),
    "sora-2": VideoModel(frozenset({4, 8, 12, 24, 36, 48, 60}), references=True),
    "gemini-omni-1.1": VideoModel(_ints(3, 10), ASPECTS_WIDE, references=True),
    "ltx-2.5": VideoModel(_ints(1, 60)),
    "seedance-2.0-fast": VideoModel(_ints(4, 15), references=True),
    "wan-3.0": VideoModel(_ints(2, 10, 15, 20, 25, 30), references=True),
    # legacy values the enum still accepts
    "kling-1.6": VideoModel(None, references=True),
    "kling-2.5": VideoModel(None, references=True),
    "ltx-2": VideoModel(None, references=True),
    "seedance": VideoModel(None, references=True),
}
VIDEO_MODEL = s.enum("default", *choices.VIDEO_ALIASES, *VIDEO_MODELS)
NO_AUDIO_MODELS = frozenset({"gemini-omni-1.1", "kling-2.6", "wan-2.2"})


def video_model_limits(body: dict[str, Any], tier: str) -> None:
    """Duration, resolution, aspect ratio, end frame, audio and references of the model the
    request gets (named, or the default of ``choices.video_choice``)."""
    choice = choices.video_choice(body, tier)
    name = choice.model or ""
    model = VIDEO_MODELS[name]
    seconds = float(body["end_seconds"])
    if model.durations is not None and (
        not seconds.is_integer() or int(seconds) not in model.durations
    ):
        allowed = ", ".join(str(d) for d in sorted(model.durations))
        raise BodyInvalid("end_seconds", f"{name} allows {allowed} seconds, got {seconds:g}")
    _offers(name, choice.resolution, choices.VIDEO_RESOLUTIONS[name])
    aspect = body.get("aspect_ratio")
    _fail_if(
        aspect is not None and aspect not in model.aspects,
        "aspect_ratio",
        f"{name} supports {', '.join(sorted(model.aspects))}, got {aspect}",
    )
    _fail_if(
        choice.audio and name in NO_AUDIO_MODELS,
        "audio",
        f"{name} does not support audio",
    )
    if (body.get("assets") or {}).get("end_image_file_path") is not None:
        supported = model.end_frame
        if name == "kling-2.6":
            supported = choice.resolution == "1080p"
        elif name.startswith("veo3.1"):
            supported = seconds <= 8
        _fail_if(not supported, "assets.end_image_file_path", f"{name} cannot use an end frame")
    references = body.get("references") or []
    if references:
        _fail_if(not model.references, "references", f"{name} does not accept references")
        if name == "veo3.1":
            _fail_if(len(references) > 3, "references", "veo3.1 accepts at most 3 references")
            _fail_if(seconds != 8, "end_seconds", "veo3.1 with references needs end_seconds 8")


# -- other per-endpoint constraints (§2.2 to §2.4) -----------------------------------------------


# clip lengths: API §2.2, and ltx-2.3's 45 s from its official description
EDITOR_CLIPS: dict[str, tuple[float, float]] = {
    "gemini-omni-1.1": (3, 10),
    "gemini-omni": (3, 10),
    "ltx-2.5": (0.5, 20),
    "ltx-2.3": (0.5, 45),
}


def video_editor_limits(body: dict[str, Any], tier: str) -> None:
    choice = choices.endpoint_choice("ai-video-editor", body, tier)
    model = choice.model or ""
    clip_between(*EDITOR_CLIPS[model])(body, tier)
    _offers(model, body.get("resolution"), choices.EDITOR_RESOLUTIONS[model])


def character_replace_limits(body: dict[str, Any], tier: str) -> None:
    """kling-3.0: 3-10 s replacing, 3-30 s animating, no points; wan-animate: no maximum."""
    style = body.get("style") or {}
    model = body.get("model") or "wan-animate"
    if model == "kling-3.0":
        _fail_if(bool(style.get("points")), "style.points", "kling-3.0 does not accept points")
        clip_between(3, 30 if style.get("mode") == "animate" else 10)(body, tier)
    _offers(model, body.get("resolution"), choices.CHARACTER_RESOLUTIONS[model])


def _ugc_seconds(model: str) -> frozenset[int] | None:
    if model == "kling-3.0":
        return _ints(3, 15)
    if model == "ltx-2.5":
        return _ints(1, 10) | frozenset(range(15, 61, 5))
    if model == "veo3.1":
        return frozenset({4, 6, 8}) | frozenset(range(15, 142, 7))
    return None


def ugc_ad_limits(body: dict[str, Any], tier: str) -> None:
    model = body.get("model") or "kling-3.0"
    allowed = _ugc_seconds(model)
    seconds = float(body["end_seconds"])
    if allowed is not None and (not seconds.is_integer() or int(seconds) not in allowed):
        raise BodyInvalid("end_seconds", f"{model} does not allow {seconds:g} seconds")
    _fail_if(tier == "free" and seconds > 5, "end_seconds", "free plans are capped at 5 s")
    _offers(model, body.get("resolution"), choices.UGC_RESOLUTIONS[model])
    limit = 1804 if model == "ltx-2.5" else 2500
    _fail_if(len(body["script"]) > limit, "script", f"must be at most {limit} characters")


def talking_photo_limits(body: dict[str, Any], tier: str) -> None:
    mode = (body.get("style") or {}).get("generation_mode") or "realistic"
    prompted = mode in ("prompted", "standard", "expressive")
    clip_between(0, 45 if prompted else 300)(body, tier)


def animation_size(body: dict[str, Any], tier: str) -> None:
    for key in ("width", "height"):
        _fail_if(body[key] > MAX_SIDE, key, f"must be at most {MAX_SIDE} on this plan")


ONE_IMAGE = frozenset({1})
SQUARES = frozenset({1, 4, 9, 16})
GENERATOR_COUNTS: dict[str, frozenset[int]] = {
    "flux-2-klein": ONE_IMAGE,
    "krea-2": ONE_IMAGE,
    "nano-banana-2.1": SQUARES,
    "nano-banana-2": SQUARES,
    "nano-banana-pro": SQUARES,
}
IMAGE_MODEL = s.enum(
    "default",
    "seedream",
    "flux-2-klein",
    "flux-schnell",
    "z-image-turbo",
    "krea-2",
    "qwen-image-2.1",
    "qwen-edit",
    "seedream-v4",
    "seedream-v4.5",
    "nano-banana",
    "nano-banana-2-lite",
    "nano-banana-2.1",
    "gpt-image-2",
    "seedream-v5-pro",
    "nano-banana-2",
    "gpt-image-2.5-flare",
    "nano-banana-pro",
)
GENERATOR_ONLY = frozenset({"flux-schnell", "z-image-turbo", "seedream"})
EDITOR_ONLY = frozenset({"qwen-edit", "seedream-v4.5"})


def image_model_limits(endpoint: str) -> Rule:
    def rule(body: dict[str, Any], tier: str) -> None:
        model = body.get("model") or "default"
        wrong = EDITOR_ONLY if endpoint == "ai-image-generator" else GENERATOR_ONLY
        _fail_if(model in wrong, "model", f"{model} is not available on {endpoint}")
        resolution = body.get("resolution")
        if resolution != "auto":
            named = choices.IMAGE_ALIASES.get(model, model)
            _offers(model, resolution, choices.IMAGE_RESOLUTIONS[named])
        count = int(body.get("image_count") or 1)
        if endpoint == "ai-image-generator":
            counts = GENERATOR_COUNTS.get(model, frozenset({1, 2, 3, 4}))
            _fail_if(count not in counts, "image_count", f"{model} cannot make {count} images")

    return rule


def editor_needs_image(body: dict[str, Any], tier: str) -> None:
    assets = body["assets"]
    _fail_if(
        not assets.get("image_file_paths") and not assets.get("image_file_path"),
        "assets",
        "needs image_file_paths (or the deprecated image_file_path)",
    )


def upscale_factor(body: dict[str, Any], tier: str) -> None:
    factor = float(body["scale_factor"])
    _fail_if(factor not in (2, 4), "scale_factor", "must be 2 or 4")
    _fail_if(factor == 4 and tier == "free", "scale_factor", "4x is for paid plans")


def source_needs_file(body: dict[str, Any], tier: str) -> None:
    """``video_source: file`` needs a ``video_file_path``; ``youtube`` needs a ``youtube_url``."""
    assets = body["assets"]
    source = assets.get("video_source") or assets.get("audio_source")
    needed = {
        "file": "video_file_path" if "video_source" in assets else "audio_file_path",
        "youtube": "youtube_url",
    }.get(source)
    if needed and not assets.get(needed):
        raise BodyInvalid(f"assets.{needed}", f"is required when the source is {source}")


# -- the catalogue -------------------------------------------------------------------------------

SLIDER = s.number(-100, 100, multiple_of=5)
_TEXT = s.string(non_empty=False)
SUBTITLE_CONFIG = s.obj(
    {},
    {
        "font": _TEXT,
        "font_size": s.number(),
        "font_style": _TEXT,
        "highlighted_text_color": _TEXT,
        "horizontal_position": _TEXT,
        "stroke_color": _TEXT,
        "stroke_width": s.number(),
        "text_color": _TEXT,
        "vertical_position": _TEXT,
    },
)
FACE_SLIDERS = (
    "eye_gaze_horizontal",
    "eye_gaze_vertical",
    "eye_open_ratio",
    "eyebrow_direction",
    "head_pitch",
    "head_roll",
    "head_yaw",
    "lip_open_ratio",
    "mouth_grim",
    "mouth_position_horizontal",
    "mouth_position_vertical",
    "mouth_pout",
    "mouth_purse",
    "mouth_smile",
)
DEPRECATED_SIZE = {"width": s.nullable(s.integer()), "height": s.nullable(s.integer())}

_TOOLS = [
    # video
    Tool(
        "animation",
        "video",
        "ANIMATION",
        s.obj(
            {
                "assets": s.obj(
                    {"audio_source": s.enum("file", "none", "youtube")},
                    {
                        "audio_file_path": ASSET,
                        "image_file_path": ASSET,
                        "youtube_url": s.string(),
                    },
                ),
                "end_seconds": END,
                "fps": s.number(1),
                "width": s.integer(64),
                "height": s.integer(64),
                "style": s.obj(
                    {
                        "art_style": sdk_enum("V1AnimationCreateBodyStyle", "art_style"),
                        "camera_effect": sdk_enum("V1AnimationCreateBodyStyle", "camera_effect"),
                        "prompt_type": s.enum("ai_choose", "custom", "use_lyrics"),
                        "transition_speed": s.integer(1, 10),
                    },
                    {"prompt": s.string(non_empty=False), "art_style_custom": s.string()},
                ),
            },
            {"name": NAME},
        ),
        (no_start_seconds, source_needs_file, animation_size),
    ),
    Tool(
        "audio-to-video",
        "video",
        "AUDIO_TO_VIDEO",
        s.obj(
            {
                "assets": s.obj({"audio_file_path": ASSET}, {"image_file_path": ASSET}),
                "end_seconds": END,
            },
            {
                "start_seconds": START,
                "resolution": RES_3,
                "style": s.obj({}, {"prompt": s.string(non_empty=False)}),
                "name": NAME,
            },
        ),
        (end_after_start,),
    ),
    Tool(
        "auto-subtitle-generator",
        "video",
        "AUTO_SUBTITLE",
        s.obj(
            {
                "assets": s.obj({"video_file_path": ASSET}),
                "start_seconds": START,
                "end_seconds": END,
                "style": s.obj(
                    {},
                    {
                        "template": s.enum("cinematic", "highlight", "karaoke", "minimalist"),
                        "custom_config": SUBTITLE_CONFIG,
                    },
                    one_of=("template", "custom_config"),
                ),
            },
            {"name": NAME},
        ),
        (end_after_start,),
    ),
    Tool(
        "character-replace",
        "video",
        "CHARACTER_REPLACE",
        s.obj(
            {
                "assets": s.obj({"image_file_path": ASSET, "video_file_path": ASSET}),
                "end_seconds": END,
            },
            {
                "start_seconds": START,
                "model": s.enum("wan-animate", "kling-3.0"),
                "resolution": RES_3,
                "style": s.obj(
                    {},
                    {
                        "mode": s.enum("replace", "animate"),
                        "selection_mode": s.enum("auto", "point"),
                        "points": s.array(
                            s.obj(
                                {
                                    "position_x": s.integer(0),
                                    "position_y": s.integer(0),
                                    "time_seconds": s.number(0),
                                }
                            )
                        ),
                    },
                ),
                "name": NAME,
            },
        ),
        (end_after_start, character_replace_limits),
    ),
    Tool(
        "face-swap",
        "video",
        "FACE_SWAP",
        s.obj(
            {
                "assets": s.obj(
                    {"video_source": VIDEO_SOURCE},
                    {
                        "video_file_path": ASSET,
                        "youtube_url": s.string(),
                        "image_file_path": ASSET,
                        "face_swap_mode": s.enum("all-faces", "individual-faces"),
                        "face_mappings": FACE_MAPPINGS,
                    },
                ),
                "start_seconds": START,
                "end_seconds": END,
            },
            {"style": s.obj({}, {"version": s.enum("default", "v1", "v2")}), "name": NAME}
            | DEPRECATED_SIZE,
        ),
        (end_after_start, source_needs_file),
    ),
    Tool(
        "image-to-video",
        "video",
        "IMAGE_TO_VIDEO",
        s.obj(
            {
                "assets": s.obj({"image_file_path": ASSET}, {"end_image_file_path": ASSET}),
                "end_seconds": GENERATED_END,
            },
            {
                "model": VIDEO_MODEL,
                "resolution": T2V_RES,
                "audio": s.boolean(),
                "style": s.obj(
                    {},
                    {
                        "prompt": s.string(non_empty=False),
                        "high_quality": s.boolean(),
                        "quality_mode": s.enum("quick", "studio"),
                    },
                ),
                "name": NAME,
            }
            | DEPRECATED_SIZE,
        ),
        (no_start_seconds, video_model_limits),
    ),
    Tool(
        "lip-sync",
        "video",
        "LIP_SYNC",
        s.obj(
            {
                "assets": s.obj(
                    {"audio_file_path": ASSET, "video_source": VIDEO_SOURCE},
                    {"video_file_path": ASSET, "youtube_url": s.string()},
                ),
                "start_seconds": START,
                "end_seconds": END,
            },
            {
                "max_fps_limit": s.number(1),
                "style": s.obj({}, {"generation_mode": s.enum("lite", "standard", "pro")}),
                "name": NAME,
            }
            | DEPRECATED_SIZE,
        ),
        (end_after_start, source_needs_file),
    ),
    Tool(
        "text-to-video",
        "video",
        "TEXT_TO_VIDEO",
        s.obj(
            {
                "end_seconds": GENERATED_END,
                "style": s.obj(
                    {"prompt": s.string(2000)}, {"quality_mode": s.enum("quick", "studio")}
                ),
            },
            {
                "model": VIDEO_MODEL,
                "resolution": T2V_RES,
                "audio": s.boolean(),
                "aspect_ratio": s.enum(*ASPECTS_ALL),
                "orientation": s.enum("landscape", "portrait", "square"),
                "references": s.array(
                    s.obj({"name": s.string(), "file_path": ASSET}), max_items=10
                ),
                "name": NAME,
            },
        ),
        (no_start_seconds, video_model_limits),
    ),
    Tool(
        "video-to-video",
        "video",
        "VIDEO_TO_VIDEO",
        s.obj(
            {
                "assets": s.obj(
                    {"video_source": VIDEO_SOURCE},
                    {"video_file_path": ASSET, "youtube_url": s.string()},
                ),
                "start_seconds": START,
                "end_seconds": END,
                "style": s.obj(
                    {"art_style": sdk_enum("V1VideoToVideoCreateBodyStyle", "art_style")},
                    {
                        "model": s.enum(
                            "Dreamshaper",
                            "Absolute Reality",
                            "Flat 2D Anime",
                            "3D Anime",
                            "Kaywaii",
                            "Soft Anime",
                            "Western Anime",
                            "default",
                        ),
                        "prompt": s.string(non_empty=False),
                        "prompt_type": s.enum("default", "custom", "append_default"),
                        "version": s.enum("default", "v1", "v2"),
                    },
                ),
            },
            {"fps_resolution": s.enum("FULL", "HALF"), "name": NAME} | DEPRECATED_SIZE,
        ),
        (end_after_start, source_needs_file),
    ),
    Tool(
        "ai-talking-photo",
        "video",
        "TALKING_PHOTO",
        s.obj(
            {
                "assets": s.obj({"image_file_path": ASSET, "audio_file_path": ASSET}),
                "start_seconds": START,
                "end_seconds": END,
            },
            {
                "resolution": s.enum("480p", "720p"),
                "max_resolution": s.integer(1),
                "style": s.obj(
                    {},
                    {
                        "generation_mode": s.enum(
                            "realistic", "prompted", "pro", "stable", "standard", "expressive"
                        ),
                        "intensity": s.number(),
                        "prompt": s.string(non_empty=False),
                    },
                ),
                "name": NAME,
            },
        ),
        (end_after_start, talking_photo_limits),
    ),
    Tool(
        "ai-ugc-ad",
        "video",
        "UGC_AD",
        s.obj(
            {
                "assets": s.obj({"image_file_path": ASSET}),
                "end_seconds": END_ANY,
                "script": s.string(),
            },
            {"model": s.enum("kling-3.0", "ltx-2.5", "veo3.1"), "resolution": RES_3},
        ),
        (no_start_seconds, ugc_ad_limits),
    ),
    Tool(
        "ai-video-editor",
        "video",
        "VIDEO_EDITOR",
        s.obj(
            {
                "assets": s.obj({"video_file_path": ASSET}),
                "end_seconds": END,
                "style": s.obj({"prompt": s.string()}),
            },
            {
                "start_seconds": START,
                "model": s.enum("ltx-2.5", "ltx-2.3", "gemini-omni-1.1", "gemini-omni"),
                "resolution": RES_3,
                "name": NAME,
            },
        ),
        (end_after_start, video_editor_limits),
    ),
    Tool(
        "ai-video-translator",
        "video",
        "VIDEO_TRANSLATOR",
        s.obj(
            {
                "assets": s.obj({"video_file_path": ASSET}),
                "end_seconds": END_ANY,
                "target_language": sdk_enum("V1AiVideoTranslatorCreateBody", "target_language"),
            },
            {"start_seconds": START, "resolution": RES_3, "name": NAME},
        ),
        (end_after_start, clip_between(1, 30)),
    ),
    Tool(
        "ai-video-upscaler",
        "video",
        "VIDEO_UPSCALER",
        s.obj(
            {
                "assets": s.obj({"video_file_path": ASSET}),
                "end_seconds": END_ANY,
                "resolution": s.enum("720p", "1080p", "2k", "4k"),
            },
            {"start_seconds": START, "name": NAME},
        ),
        (end_after_start,),
    ),
    # image
    Tool(
        "ai-clothes-changer",
        "image",
        "CLOTHES_CHANGER",
        s.obj(
            {
                "assets": s.obj(
                    {"person_file_path": ASSET, "garment_file_path": ASSET},
                    {
                        "garment_type": s.enum(
                            "upper_body", "lower_body", "entire_outfit", "dresses"
                        )
                    },
                )
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "ai-face-editor",
        "image",
        "FACE_EDITOR",
        s.obj(
            {
                "assets": s.obj({"image_file_path": ASSET}),
                "style": s.obj(
                    {}, {"enhance_face": s.boolean()} | dict.fromkeys(FACE_SLIDERS, SLIDER)
                ),
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "ai-gif-generator",
        "image",
        "AI_GIF",
        s.obj(
            {"style": s.obj({"prompt": s.string(500)})},
            {"output_format": s.enum("gif", "mp4", "webm"), "name": NAME},
        ),
        output="output.gif",
    ),
    Tool(
        "ai-headshot-generator",
        "image",
        "AI_HEADSHOT",
        s.obj(
            {"assets": s.obj({"image_file_path": ASSET})},
            {"style": s.obj({}, {"prompt": s.string(non_empty=False)}), "name": NAME},
        ),
    ),
    Tool(
        "ai-image-editor",
        "image",
        "AI_IMAGE_EDITOR",
        s.obj(
            {
                "style": s.obj(
                    {"prompt": s.string(15000)},
                    {"model": s.enum("Nano Banana", "Seedream", "default")},
                ),
                "assets": s.obj(
                    {},
                    {
                        "image_file_paths": s.array(ASSET, max_items=10),
                        "image_file_path": ASSET,
                    },
                ),
            },
            {
                "model": IMAGE_MODEL,
                "resolution": IMAGE_RES,
                "aspect_ratio": s.enum("16:9", "1:1", "2:3", "3:2", "4:3", "4:5", "9:16", "auto"),
                "image_count": s.enum(1, 4, 9, 16),
                "name": NAME,
            },
        ),
        (editor_needs_image, image_model_limits("ai-image-editor")),
    ),
    Tool(
        "ai-image-generator",
        "image",
        "AI_IMAGE",
        s.obj(
            {
                "image_count": s.integer(1, 16),
                "style": s.obj(
                    {"prompt": s.string()},
                    {
                        "tool": sdk_enum("V1AiImageGeneratorCreateBodyStyle", "tool"),
                        "quality_mode": s.enum("standard", "pro"),
                    },
                ),
            },
            {
                "model": IMAGE_MODEL,
                "resolution": IMAGE_RES,
                "aspect_ratio": s.enum(*ASPECTS_ALL),
                "orientation": s.enum("landscape", "portrait", "square"),
                "name": NAME,
            },
        ),
        (image_model_limits("ai-image-generator"),),
    ),
    Tool(
        "ai-image-upscaler",
        "image",
        "IMAGE_UPSCALER",
        s.obj(
            {"assets": s.obj({"image_file_path": ASSET}), "scale_factor": s.number(0, above=True)},
            {
                "style": s.obj(
                    {},
                    {
                        "mode": s.enum("balanced", "creative", "preserve", "pro"),
                        "enhancement": s.enum("Balanced", "Creative", "Resemblance"),
                        "prompt": s.string(non_empty=False),
                    },
                ),
                "name": NAME,
            },
        ),
        (upscale_factor,),
    ),
    Tool(
        "ai-meme-generator",
        "image",
        "AI_MEME",
        s.obj(
            {
                "style": s.obj(
                    {
                        "template": sdk_enum("V1AiMemeGeneratorCreateBodyStyle", "template"),
                        "topic": s.string(200),
                    },
                    {"search_web": s.boolean()},
                )
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "ai-qr-code-generator",
        "image",
        "QR_CODE",
        s.obj({"content": s.string(), "style": s.obj({"art_style": s.string()})}, {"name": NAME}),
    ),
    Tool(
        "body-swap",
        "image",
        "BODY_SWAP",
        s.obj(
            {
                "assets": s.obj({"person_file_path": ASSET, "scene_file_path": ASSET}),
                "resolution": s.enum("640px", "1k", "2k", "4k"),
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "face-swap-photo",
        "image",
        "FACE_SWAP",
        s.obj(
            {
                "assets": s.obj(
                    {"target_file_path": ASSET},
                    {
                        "source_file_path": ASSET,
                        "face_swap_mode": s.enum("all-faces", "individual-faces"),
                        "face_mappings": FACE_MAPPINGS,
                    },
                )
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "head-swap",
        "image",
        "HEAD_SWAP",
        s.obj(
            {"assets": s.obj({"body_file_path": ASSET, "head_file_path": ASSET})},
            {"max_resolution": s.integer(1, 2048), "name": NAME},
        ),
    ),
    Tool(
        "image-background-remover",
        "image",
        "BACKGROUND_REMOVER",
        s.obj(
            {"assets": s.obj({"image_file_path": ASSET}, {"background_image_file_path": ASSET})},
            {"name": NAME},
        ),
    ),
    Tool(
        "photo-colorizer",
        "image",
        "PHOTO_COLORIZER",
        s.obj({"assets": s.obj({"image_file_path": ASSET})}, {"name": NAME}),
    ),
    # audio
    Tool(
        "ai-music-generator",
        "audio",
        "MUSIC_GENERATOR",
        s.obj(
            {
                "duration": s.integer(15, 300),
                "style": s.obj(
                    {"prompt": s.string()},
                    {"lyrics": s.string(non_empty=False), "instrumental": s.boolean()},
                ),
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "ai-voice-cloner",
        "audio",
        "VOICE_CLONER",
        s.obj(
            {
                "assets": s.obj({"audio_file_path": ASSET}),
                "style": s.obj({"prompt": s.string(1000)}),
            },
            {"name": NAME},
        ),
    ),
    Tool(
        "ai-voice-generator",
        "audio",
        "VOICE_GENERATOR",
        s.obj(
            {
                "style": s.obj(
                    {
                        "prompt": s.string(1000),
                        "voice_name": sdk_enum("V1AiVoiceGeneratorCreateBodyStyle", "voice_name"),
                    }
                )
            },
            {"name": NAME},
        ),
    ),
    # face detection: free, answered with the audio create variant, polled on its own path
    Tool(
        "face-detection",
        "face",
        "FACE_DETECTION",
        s.obj(
            {"assets": s.obj({"target_file_path": ASSET})},
            {"confidence_score": s.number(0, 1, multiple_of=0.05)},
        ),
    ),
]

TOOLS: dict[str, Tool] = {tool.endpoint: tool for tool in _TOOLS}


def validate(tool: Tool, body: Any, tier: str) -> dict[str, Any]:
    """Check ``body`` against ``tool``'s schema (400) and constraints (422); return it, or raise."""
    tool.spec(body, "")
    try:
        for rule in tool.rules:
            rule(body, tier)
    except BodyInvalid as exc:
        exc.status = 422
        raise
    return body

"""The simulator against the official SDK's own request and response types, over real HTTP.

Valid bodies are built from each create endpoint's ``V1<Name>CreateBody`` TypedDict (every
``Literal`` value of every field, each on a body with every field), sent with the SDK's own
``create()`` (so they pass its validation too), and each answer must parse into the SDK's response
model, as must the project GET. Invalid ones (a value outside an enum, a required field left out,
a field of the wrong type, a number outside the official description's range) must be refused
400 with Magic Hour's error shape, ``{"message": str}``.

What the types cannot say, the pairings the docs require, is in :data:`NEEDS`, each with its
source; a body the SDK allows and the docs do not say anything against must simply be accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import magic_hour
import pytest

from ledger.simulator import catalog
from ledger.simulator.testing import SimulatorHandle
from tests.simulator.sdk_requests import (
    Endpoint,
    Field,
    build,
    endpoints,
    fields,
    list_item,
    options,
    typed_dict,
    with_value,
    without,
)

ENDPOINTS = {endpoint.path: endpoint for endpoint in endpoints()}
DELETE = object()  # in a patch: leave the field out

# Fields the SDK types as optional that the docs require in a pairing (magic-hour-api.md §2).
REQUIRED_TOO: dict[str, dict[str, Any]] = {
    # "video_source: file" needs video_file_path (API §2.2); likewise audio_source for animation
    "animation": {"assets": {"audio_source": "none"}},
    "face-swap": {"assets": {"video_source": "file", "video_file_path": "video/id/1234.mp4"}},
    "lip-sync": {
        "assets": {
            "audio_file_path": "api-assets/id/1234.mp3",
            "video_source": "file",
            "video_file_path": "video/id/1234.mp4",
        }
    },
    "video-to-video": {"assets": {"video_source": "file", "video_file_path": "video/id/1234.mp4"}},
    # "image_file_paths? (at most 10), image_file_path? (deprecated)": one of them (API §2.3)
    "ai-image-editor": {"assets": {"image_file_paths": ["image/id/1234.png"]}},
    # "at least one of template/custom_config" (API §2.2)
    "auto-subtitle-generator": {"style": {"template": "karaoke"}},
}
# The body with every field, made consistent where the docs tie fields together.
EVERY_FIELD: dict[str, dict[str, Any]] = {
    # wan-animate (the default) takes points; 480p/720p (API §2.2)
    "character-replace": {"model": "wan-animate", "resolution": "720p"},
}
_GEMINI = {"model": "gemini-omni-1.1", "end_seconds": 5.0}
_EIGHT_SECONDS = {"end_seconds": 8.0}
_GENERATED: dict[tuple[str, Any], dict[str, Any]] = {
    # pricing §1: seedance-2.0, -mini and 2.5 render 480p and 720p; API §4.3: -fast too
    ("model", "seedance-2.0"): {"resolution": "720p"},
    ("model", "seedance-2.5"): {"resolution": "720p"},
    ("model", "seedance-2.0-mini"): {"resolution": "720p"},
    ("model", "seedance-2.0-fast"): {"resolution": "720p"},
    # API §4.3: veo3.1 4, 6, 8, 16 ... s; pricing §1: sora-2 4, 8, 12 ... s
    ("model", "sora-2"): {"end_seconds": 8.0, "resolution": "720p"},  # pricing §1: 720p only
    ("model", "veo3.1-audio"): _EIGHT_SECONDS,
    ("model", "veo3.1"): _EIGHT_SECONDS,
    ("model", "veo3.1-lite"): _EIGHT_SECONDS,
    ("model", "kling-2.6"): {"end_seconds": 5.0, "resolution": "1080p"},
    # API §4.3: 360p is gemini-omni-1.1's alone
    ("resolution", "360p"): _GEMINI,
}
# Pairings the docs require: (endpoint, field, value) -> fields to change with it.
NEEDS: dict[tuple[str, str, Any], dict[str, Any]] = {
    **{("image-to-video", *key): patch for key, patch in _GENERATED.items()},
    **{("text-to-video", *key): patch for key, patch in _GENERATED.items()},
    # API §4.3: wan-2.2 takes no end frame
    ("image-to-video", "model", "wan-2.2"): {"assets": {"image_file_path": "image/id/1234.png"}},
    # API §4.3: kling-2.6, ltx-2.5, wan-2.2, seedance-1.5 (the paid 480p default) and
    # veo3.1-lite take no references
    **{
        ("text-to-video", "model", model): {
            **_GENERATED.get(("model", model), {}),
            "references": DELETE,
        }
        for model in ("kling-2.6", "ltx-2.5", "wan-2.2", "seedance-1.5", "veo3.1-lite")
    },
    ("text-to-video", "resolution", "480p"): {"references": DELETE},
    # API §2.2: UGC ad durations and resolutions per model
    ("ai-ugc-ad", "model", "veo3.1"): {"end_seconds": 8.0, "resolution": "720p"},
    ("ai-ugc-ad", "resolution", "480p"): {"model": "ltx-2.5"},
    # API §2.2: gemini-omni renders 720p/1080p, LTX 480p too
    ("ai-video-editor", "resolution", "480p"): {"model": "ltx-2.3"},
    # API §2.2: kling-3.0 takes no points, renders 720p/1080p
    ("character-replace", "model", "kling-3.0"): {
        "resolution": "1080p",
        "style": {"mode": "replace"},
    },
    ("character-replace", "resolution", "1080p"): {
        "model": "kling-3.0",
        "style": {"mode": "replace"},
    },
}


def patched(body: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    changed = dict(body)
    for key, value in patch.items():
        if value is DELETE:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def required_body(endpoint: Endpoint) -> dict[str, Any]:
    return patched(build(endpoint.body, False, endpoint.path), REQUIRED_TOO.get(endpoint.path, {}))


def every_field_body(endpoint: Endpoint) -> dict[str, Any]:
    return patched(build(endpoint.body, True, endpoint.path), EVERY_FIELD.get(endpoint.path, {}))


def valid_bodies(endpoint: Endpoint) -> Iterator[tuple[str, dict[str, Any]]]:
    """The required fields alone, every field, then every value of every enum (long ones
    sampled: the first, the last and about 10 between)."""
    yield "required fields", required_body(endpoint)
    full = every_field_body(endpoint)
    yield "every field", full
    for field in fields(endpoint.body):
        values = field.literals
        if len(values) > 30:
            step = len(values) // 10
            values = (*values[::step], values[-1])
        for value in values:
            body = with_value(full, field.path, value)
            patch = NEEDS.get((endpoint.path, field.name, value), {})
            yield f"{field.name}={value}", patched(body, patch)


def kind_of(answer: Any) -> str:
    """Which project GET the create's answer belongs to, from the SDK model it parsed into."""
    if hasattr(answer, "estimated_frame_cost"):
        return "video"
    if hasattr(answer, "frame_cost"):
        return "image"
    return "audio"


@pytest.fixture(scope="module")
def shared_simulator() -> Iterator[SimulatorHandle]:
    from ledger.simulator.options import SimulatorOptions
    from ledger.simulator.testing import running_simulator
    from tests.simulator.conftest import FAST

    # credits enough for every valid body (4k video minutes add up)
    with running_simulator(SimulatorOptions(**FAST, seed=3, start_credits=10**12)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def official(shared_simulator: SimulatorHandle) -> Iterator[magic_hour.Client]:
    with httpx.Client(timeout=30) as http:
        yield magic_hour.Client(token="t", base_url=shared_simulator.url, httpx_client=http)


@pytest.fixture(scope="module")
def raw(shared_simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(base_url=shared_simulator.url, headers=headers, timeout=30) as http:
        yield http


def test_the_simulator_has_every_create_endpoint_of_the_sdk() -> None:
    assert set(ENDPOINTS) == set(catalog.TOOLS)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_valid_sdk_bodies_are_accepted_and_parse_into_the_sdk_models(
    path: str, official: magic_hour.Client, shared_simulator: SimulatorHandle
) -> None:
    endpoint = ENDPOINTS[path]
    resource = getattr(official.v1, endpoint.resource)
    made = []
    for label, body in valid_bodies(endpoint):
        try:
            answer = resource.create(**body)  # the SDK validates the body, then parses the answer
        except magic_hour.ApiError as refused:
            pytest.fail(f"{path} {label}: {refused.status_code} {refused.body}")
        assert isinstance(answer, endpoint.response), label
        made.append(answer)
    # every answer to a project GET parses too, while queued and once finished
    first, last = made[0], made[-1]
    for when in ("now", "finished"):
        if when == "finished":
            shared_simulator.wait_until_settled()
        for answer in (first, last):
            if path == "face-detection":
                project = official.v1.face_detection.get(id=answer.id)
            else:
                project = getattr(official.v1, f"{kind_of(answer)}_projects").get(id=answer.id)
            assert project.id == answer.id


def assert_magic_hour_error(response: httpx.Response, status: int, label: str) -> None:
    assert response.status_code == status, f"{label}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body["message"], str) and body["message"], label


def wrong_type(field: Field) -> Any:
    annotation = field.annotation
    if typed_dict(annotation) is not None:
        return ["not", "an", "object"]
    if list_item(annotation) is not None:
        return {"not": "a list"}
    kinds = options(annotation)
    if bool in kinds:
        return "yes"
    if int in kinds or float in kinds:
        return "5"
    return 12345


def invalid_bodies(endpoint: Endpoint) -> Iterator[tuple[str, dict[str, Any]]]:
    full = every_field_body(endpoint)
    for field in fields(endpoint.body):
        if field.literals:
            yield f"{field.name} unknown", with_value(full, field.path, "not-a-documented-value")
        if field.required:
            missing = without(full, field.path)
            if missing is not None:
                yield f"{field.name} missing", missing
        yield f"{field.name} of the wrong type", with_value(full, field.path, wrong_type(field))


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_what_the_sdk_types_forbid_is_refused_400(path: str, raw: httpx.Client) -> None:
    """Sent raw: the SDK itself would refuse these before sending."""
    for label, body in invalid_bodies(ENDPOINTS[path]):
        assert_magic_hour_error(raw.post(f"/v1/{path}", json=body), 400, f"{path} {label}")


def _full(path: str, **changes: Any) -> dict[str, Any]:
    body = every_field_body(ENDPOINTS[path])
    for dotted, value in changes.items():
        path = tuple(int(part) if part.isdigit() else part for part in dotted.split("__"))
        body = with_value(body, path, value)
    return body


# The official description's ranges and lengths (magichourhq/docs, api-reference/openapi.json),
# which the SDK's types do not carry.
OUT_OF_RANGE = [
    ("animation", _full("animation", width=63)),  # minimum 64
    ("animation", _full("animation", height=63)),
    ("animation", _full("animation", style__transition_speed=0)),  # 1 to 10
    ("animation", _full("animation", style__transition_speed=11)),
    ("animation", _full("animation", fps=0.5)),  # minimum 1
    ("animation", _full("animation", end_seconds=0.05)),  # minimum 0.1
    ("image-to-video", _full("image-to-video", end_seconds=61)),  # 1 to 60
    ("text-to-video", _full("text-to-video", end_seconds=0.5)),
    ("text-to-video", _full("text-to-video", style__prompt="x" * 2001)),  # maxLength 2000
    ("ai-gif-generator", _full("ai-gif-generator", style__prompt="x" * 501)),  # 500
    ("ai-meme-generator", _full("ai-meme-generator", style__topic="x" * 201)),  # 200
    ("ai-voice-cloner", _full("ai-voice-cloner", style__prompt="x" * 1001)),  # 1000
    ("ai-face-editor", _full("ai-face-editor", style__mouth_smile=7)),  # multipleOf 5
    ("ai-face-editor", _full("ai-face-editor", style__head_yaw=105)),  # -100 to 100
    ("face-detection", _full("face-detection", confidence_score=0.33)),  # multipleOf 0.05
    ("face-detection", _full("face-detection", confidence_score=1.05)),  # 0 to 1
    ("ai-image-generator", _full("ai-image-generator", image_count=17)),  # 1 to 16
    ("ai-image-generator", _full("ai-image-generator", image_count=0)),
    ("ai-image-editor", _full("ai-image-editor", image_count=2)),  # enum 1, 4, 9, 16
    ("lip-sync", _full("lip-sync", max_fps_limit=0.5)),  # minimum 1
    ("character-replace", _full("character-replace", style__points__0__position_x=-1)),  # >= 0
    (
        "face-swap",
        _full("face-swap", assets__face_mappings=[{"original_face": "a", "new_face": "b"}] * 6),
    ),
    ("ai-image-editor", _full("ai-image-editor", assets__image_file_paths=["image/id/1.png"] * 11)),
    ("ai-music-generator", _full("ai-music-generator", duration=301)),  # 15 to 300 (API §2.4)
]


@pytest.mark.parametrize(("path", "body"), OUT_OF_RANGE)
def test_what_the_description_forbids_is_refused_400(
    path: str, body: dict[str, Any], raw: httpx.Client
) -> None:
    assert_magic_hour_error(raw.post(f"/v1/{path}", json=body), 400, path)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # API §4.3: kling-3.0 renders 3-15 s
        ("image-to-video", _full("image-to-video", model="kling-3.0", end_seconds=20)),
        # API §2.2: the translator's clip is 1-30 s
        ("ai-video-translator", _full("ai-video-translator", end_seconds=31)),
        # API §2.3: the upscaler's factor is 2 or 4
        ("ai-image-upscaler", _full("ai-image-upscaler", scale_factor=3)),
    ],
)
def test_what_a_model_cannot_make_is_refused_422(
    path: str, body: dict[str, Any], raw: httpx.Client
) -> None:
    assert_magic_hour_error(raw.post(f"/v1/{path}", json=body), 422, path)


def test_errors_have_magic_hours_fixed_messages(raw: httpx.Client, shared_simulator: Any) -> None:
    """The description's 401 and 404 schemas are enums of one message each."""
    unauthorized = httpx.post(f"{shared_simulator.url}/v1/photo-colorizer", json={})
    assert_magic_hour_error(unauthorized, 401, "no token")
    assert unauthorized.json()["message"] == "Unauthorized"
    for response in (
        raw.get("/v1/video-projects/no-such-id"),
        raw.get("/v1/face-detection/no-such-id"),
        raw.post("/v1/no-such-tool", json={}),
    ):
        assert_magic_hour_error(response, 404, str(response.url))
        assert response.json()["message"] == "Not Found"


def test_the_sdk_sees_refusals_as_api_errors(official: magic_hour.Client) -> None:
    with pytest.raises(magic_hour.ApiError) as refused:
        official.v1.image_to_video.create(
            assets={"image_file_path": "image/id/1234.png"}, end_seconds=20, model="kling-3.0"
        )
    assert refused.value.status_code == 422 and "end_seconds" in refused.value.body["message"]

"""The pricing table against the official SDK's request types and Magic Hour's official API
description, so that the two cannot drift apart unnoticed.

Every value the table prices (a model, a resolution, a mode) is one the SDK's ``Literal`` types
allow; every value the SDK allows is priced, an alias, or listed below as deliberately unpriced
(held at the endpoint's highest rate until learned); every field the table requires the SDK
requires too; and every duration, frame-rate and count cap is the largest the SDK or the
description documents (never below: ledger must not refuse what Magic Hour accepts), or the
table's sanity ceiling where neither documents one.
"""

from __future__ import annotations

import typing
from fractions import Fraction
from typing import Any

import pytest
from magic_hour.types import params

from ledger.pricing import PricingTable
from ledger.pricing.rules import Choice, Price
from ledger.pricing.table import DEFAULT_MAX_COUNT, DEFAULT_MAX_FPS, DEFAULT_MAX_SECONDS

TABLE = PricingTable.load(plan="creator")

# The longest clip each endpoint documents (seconds). Sources: the official description
# (magichourhq/docs api-reference/openapi.json) and the SDK 0.90.0's docstrings.
DOCUMENTED_MAX_SECONDS = {
    "image-to-video": 60,  # description: end_seconds maximum 60
    "text-to-video": 60,  # description: end_seconds maximum 60
    "ai-video-editor": 45,  # description: ltx-2.3 up to 45 s (gemini-omni 10 s)
    "ai-talking-photo": 300,  # SDK: realistic up to 300 s (the description now says 180)
    "ai-ugc-ad": 141,  # SDK: veo3.1 up to 141 s
    "ai-video-translator": 30,  # SDK: the clip must be 1-30 s
    "ai-music-generator": 300,  # SDK: duration 15-300
}
# Largest request counts the documents give: image_count (generator: maximum 16; editor: 1, 4,
# 9 or 16).
DOCUMENTED_MAX_COUNT = {"ai-image-generator": 16, "ai-image-editor": 16}

# SDK values the table does not price, on purpose: no published rate (or no published pick),
# so they are held at the endpoint's highest rate until ledger learns their price.
_LEGACY_VIDEO = {"gemini-omni-1.1", "kling-1.6", "kling-2.5", "ltx-2", "ltx-2.5", "seedance"}
_NEW_VIDEO = {"seedance-2.0-fast", "wan-3.0"}
UNPRICED = {
    ("image-to-video", "model"): _LEGACY_VIDEO | _NEW_VIDEO,
    ("text-to-video", "model"): _LEGACY_VIDEO | _NEW_VIDEO,
    ("image-to-video", "resolution"): {"360p"},  # no model publishes a 360p rate
    ("text-to-video", "resolution"): {"360p"},
    # `default`: Magic Hour's pick is not published for images
    ("ai-image-generator", "model"): {
        "default",
        "seedream",
        "gpt-image-2.5-flare",
        "krea-2",
        "nano-banana-2.1",
        "qwen-image-2.1",
    },
    ("ai-image-editor", "model"): {
        "default",
        "gpt-image-2.5-flare",
        "krea-2",
        "nano-banana-2.1",
        "qwen-image-2.1",
    },
}


def body_type(endpoint: str) -> Any:
    """The SDK's request body TypedDict of a create endpoint (``V1ImageToVideoCreateBody``)."""
    name = "V1" + "".join(word.capitalize() for word in endpoint.split("-")) + "CreateBody"
    found = getattr(params, name, None)
    assert found is not None, f"the SDK has no {name} for /v1/{endpoint}"
    return found


def field_type(body: Any, path: tuple[str, ...]) -> tuple[Any, bool]:
    """The type of a (dotted) field of a TypedDict, and whether every step is required."""
    required, current = True, body
    for part in path:
        hints = typing.get_type_hints(current)
        assert part in hints, f"{body.__name__} has no field {'.'.join(path)}"
        required = required and part in current.__required_keys__
        current = hints[part]
    return current, required


def literal_values(annotation: Any) -> set[Any] | None:
    """The values of a Literal (inside Optional or Union too); None if it is not one."""
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Union:
        parts = [literal_values(arg) for arg in typing.get_args(annotation)]
        found = [values for values in parts if values is not None]
        return set().union(*found) if found else None
    return None


def priced_values(price: Price, choice: Choice) -> set[str]:
    """The values of a choice the table prices, and those it aliases to others."""
    values = set(choice.aliases)
    if price.rates is not None and choice.name in price.rates.names:
        index = price.rates.names.index(choice.name)
        values |= {key[index] for key in price.rates.values}
    for multiplier in price.multipliers:
        if multiplier.choice.name == choice.name:
            values |= set(multiplier.factors)
    return values


CHOICES = [
    (endpoint, choice)
    for endpoint in TABLE.endpoints()
    for choice in (TABLE.price_of(endpoint).choices or {}).values()  # type: ignore[union-attr]
]


def price(endpoint: str) -> Price:
    found = TABLE.price_of(endpoint)
    assert found is not None
    return found


@pytest.mark.parametrize(("endpoint", "choice"), CHOICES, ids=lambda c: getattr(c, "name", c))
def test_every_priced_value_is_one_the_sdk_allows_and_every_sdk_value_is_decided(
    endpoint: str, choice: Choice
) -> None:
    annotation, _ = field_type(body_type(endpoint), choice.field)
    allowed = literal_values(annotation)
    if allowed is None:
        return  # a number or free text in the SDK (scale_factor): nothing to compare
    table = priced_values(price(endpoint), choice)
    assert table - allowed == set(), f"{endpoint} {choice.name}: priced but not in the SDK"
    undecided = allowed - table - UNPRICED.get((endpoint, choice.name), set())
    assert undecided == set(), f"{endpoint} {choice.name}: in the SDK, not in the table"
    unpriced_yet_priced = UNPRICED.get((endpoint, choice.name), set()) & table
    assert unpriced_yet_priced == set(), "listed as unpriced but the table prices it"


@pytest.mark.parametrize("endpoint", TABLE.endpoints())
def test_the_table_requires_only_what_the_sdk_requires(endpoint: str) -> None:
    """A body the SDK lets through is never refused by ledger for a missing field."""
    body, entry = body_type(endpoint), price(endpoint)
    needed = [choice.field for choice in entry.choices.values() if choice.required]
    if entry.rule in ("per_second", "per_frame"):
        needed.append(entry.duration_field or entry.end_field)  # type: ignore[arg-type]
    if entry.rule == "per_frame" and entry.fps is None:
        needed.append(entry.fps_field)  # type: ignore[arg-type]
    if entry.rule == "per_character":
        needed.append(entry.text_field)  # type: ignore[arg-type]
    for path in needed:
        _, required = field_type(body, path)
        assert required, f"{endpoint}: the table requires {'.'.join(path)}, the SDK does not"


@pytest.mark.parametrize(
    "endpoint", [e for e in TABLE.endpoints() if price(e).rule in ("per_second", "per_frame")]
)
def test_each_duration_cap_is_the_documented_maximum_or_the_sanity_ceiling(endpoint: str) -> None:
    expected = DOCUMENTED_MAX_SECONDS.get(endpoint, DEFAULT_MAX_SECONDS)
    assert price(endpoint).max_seconds == Fraction(expected)


def test_frame_rate_and_count_caps_are_documented_or_the_sanity_ceiling() -> None:
    for endpoint in TABLE.endpoints():
        entry = price(endpoint)
        if entry.rule == "per_frame" and entry.fps_field is not None:
            # animation: the description's fps has a minimum (1) and no maximum
            assert entry.max_fps == DEFAULT_MAX_FPS, endpoint
        if entry.rule == "per_image" and entry.count_field is not None:
            documented = DOCUMENTED_MAX_COUNT.get(endpoint, DEFAULT_MAX_COUNT)
            assert entry.max_count == documented, endpoint


def test_longest_documented_clips_are_priced_not_refused() -> None:
    bodies = {
        "ai-video-editor": {
            "assets": {"video_file_path": "v.mp4"},
            "end_seconds": 45,
            "model": "ltx-2.3",
            "style": {"prompt": "x"},
        },
        "character-replace": {
            "assets": {"image_file_path": "i.png", "video_file_path": "v.mp4"},
            "end_seconds": 45,  # the description gives no maximum
        },
        "image-to-video": {"assets": {"image_file_path": "i.png"}, "end_seconds": 60},
    }
    for endpoint, body in bodies.items():
        assert TABLE.estimate(endpoint, body).credits > 0

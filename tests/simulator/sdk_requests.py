"""Request bodies built from the official SDK's own request types (``magic_hour.types.params``).

Every create endpoint of SDK 0.90.0 has a ``V1<Name>CreateBody`` TypedDict; walking its type hints
gives each field's path, whether it is required, and its type (``Literal`` values included). What
the types cannot say, a valid number for each field and the pairings the docs require (a model's
durations), comes from :data:`NUMBERS` and the tests' own tables, each citing the documentation.
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typing_extensions
from magic_hour.types import models, params

_BODY = re.compile(r"V1(\w+)CreateBody")
_WRAPPERS = (typing_extensions.Required, typing_extensions.NotRequired, typing.Required)

# Valid numbers per field name: the SDK's docstring examples, within the description's ranges.
NUMBERS: dict[str, float] = {
    "end_seconds": 5.0,
    "start_seconds": 0.0,
    "fps": 12.0,
    "width": 512,
    "height": 512,
    "transition_speed": 5,
    "duration": 30,
    "image_count": 1,
    "scale_factor": 2,
    "max_fps_limit": 12.0,
    "confidence_score": 0.5,
    "position_x": 100,
    "position_y": 100,
    "time_seconds": 0.5,
    "max_resolution": 1024,
    "intensity": 1.0,
    "font_size": 24.0,
    "stroke_width": 1.0,
}
SLIDER = 10  # the face editor's sliders: -100 to 100 in steps of 5


@dataclass(frozen=True)
class Field:
    """One field of a body: its path (``("style", "art_style")``; ``0`` for a list item)."""

    path: tuple[str | int, ...]
    required: bool
    annotation: Any

    @property
    def name(self) -> str:
        return ".".join(str(part) for part in self.path)

    @property
    def literals(self) -> tuple[Any, ...]:
        return literal_values(self.annotation)


@dataclass(frozen=True)
class Endpoint:
    """A create endpoint of the SDK: ``/v1/{path}``, its resource, body type and response model."""

    path: str  # ai-clothes-changer
    resource: str  # ai_clothes_changer
    body: Any  # the TypedDict
    response: Any  # the pydantic model create() returns


def endpoints() -> list[Endpoint]:
    """Every create endpoint the SDK has (upload-urls is no create)."""
    found = []
    for name in sorted(dir(params)):
        match = _BODY.fullmatch(name)
        if not match or match.group(1) == "FilesUploadUrls":
            continue
        words = re.findall(r"[A-Z][a-z0-9]*", match.group(1))
        found.append(
            Endpoint(
                path="-".join(word.lower() for word in words),
                resource="_".join(word.lower() for word in words),
                body=getattr(params, name),
                response=getattr(models, f"V1{match.group(1)}CreateResponse"),
            )
        )
    return found


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) in _WRAPPERS:
        annotation = typing.get_args(annotation)[0]
    return annotation


def options(annotation: Any) -> list[Any]:
    """The alternatives of a Union or Optional (None left out), or the type itself."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Union:
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def literal_values(annotation: Any) -> tuple[Any, ...]:
    values: list[Any] = []
    for option in options(annotation):
        if typing.get_origin(option) is typing.Literal:
            values += typing.get_args(option)
    return tuple(values)


def typed_dict(annotation: Any) -> Any | None:
    for option in options(annotation):
        if typing_extensions.is_typeddict(option):
            return option
    return None


def list_item(annotation: Any) -> Any | None:
    for option in options(annotation):
        if typing.get_origin(option) is list:
            return typing.get_args(option)[0]
    return None


def fields(body: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[Field]:
    """Every field of the TypedDict ``body``, depth first (list items as index 0)."""
    hints = typing.get_type_hints(body, include_extras=True)
    for key, annotation in hints.items():
        path = (*prefix, key)
        yield Field(path, key in body.__required_keys__, annotation)
        nested = typed_dict(annotation)
        item = list_item(annotation)
        if nested is not None:
            yield from fields(nested, path)
        elif item is not None and typed_dict(item) is not None:
            yield from fields(typed_dict(item), (*path, 0))


def value_for(key: str, annotation: Any, full: bool, endpoint: str) -> Any:
    """A valid value of ``annotation`` for field ``key`` (nested objects built in turn)."""
    literals = literal_values(annotation)
    if literals:
        return literals[0]
    nested = typed_dict(annotation)
    if nested is not None:
        return build(nested, full, endpoint)
    item = list_item(annotation)
    if item is not None:
        return [value_for(key, item, full, endpoint)]
    kinds = options(annotation)
    if bool in kinds:
        return False
    if int in kinds or float in kinds:
        number = NUMBERS.get(key, SLIDER if endpoint == "ai-face-editor" else 1)
        return number if float in kinds or isinstance(number, int) else int(number)
    if key.endswith(("file_path", "file_paths")) or key in ("new_face", "original_face"):
        return asset(key)
    if key == "youtube_url":
        return "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    return "a calm lake at dawn"


def asset(key: str) -> str:
    """The description's own example paths, with and without ``api-assets/``."""
    if "video" in key:
        return "video/id/1234.mp4"
    if "audio" in key:
        return "api-assets/id/1234.mp3"
    return "image/id/1234.png"


def build(body: Any, full: bool, endpoint: str) -> dict[str, Any]:
    """A body of the TypedDict ``body``: its required fields, or every field when ``full``."""
    hints = typing.get_type_hints(body, include_extras=True)
    return {
        key: value_for(key, annotation, full, endpoint)
        for key, annotation in hints.items()
        if full or key in body.__required_keys__
    }


def with_value(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``path`` set to ``value`` (parents made as needed)."""
    changed = copy.deepcopy(body)
    node: Any = changed
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[path[-1]] = value
    return changed


def without(body: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    """A copy of ``body`` without ``path``; None if the body has no such field."""
    changed = copy.deepcopy(body)
    node: Any = changed
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(node, dict) or path[-1] not in node:
        return None
    del node[path[-1]]
    return changed

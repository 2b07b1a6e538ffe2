"""A small validator for JSON request bodies, enough to refuse what the real API would refuse.

Why not pydantic: it is not a dependency of ``ledger``, and a handful of composable checks reads
as a table of the reference (``ledger/simulator/catalog.py``), which is what matters here.

A spec is a callable ``(value, path) -> None`` that raises :class:`BodyInvalid`. Objects accept
unknown keys, as the SDK's own models do on the way back; the real API's behaviour for unknown
request keys is undocumented, and refusing them would only make the simulator stricter than the
SDK is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Spec = Callable[[Any, str], None]


class BodyInvalid(Exception):
    """The request body breaks a documented constraint. ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_number(value: Any) -> bool:
    """JSON numbers only: ``true`` is not 1 here, and NaN/inf never arrive as JSON anyway."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(minimum: float | None = None, maximum: float | None = None, *, above: bool = False):
    """A JSON number within ``[minimum, maximum]`` (``above``: strictly greater than minimum)."""

    def check(value: Any, path: str) -> None:
        if not is_number(value):
            raise BodyInvalid(path, "must be a number")
        if minimum is not None and (value < minimum or (above and value == minimum)):
            relation = ">" if above else ">="
            raise BodyInvalid(path, f"must be {relation} {minimum:g}")
        if maximum is not None and value > maximum:
            raise BodyInvalid(path, f"must be <= {maximum:g}")

    return check


def integer(minimum: int | None = None, maximum: int | None = None) -> Spec:
    """A whole number (``2.0`` counts: the SDK sends some int-like fields as floats)."""
    bounds = number(minimum, maximum)

    def check(value: Any, path: str) -> None:
        if not is_number(value) or not float(value).is_integer():
            raise BodyInvalid(path, "must be an integer")
        bounds(value, path)

    return check


def string(max_length: int | None = None, *, non_empty: bool = True) -> Spec:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise BodyInvalid(path, "must be a string")
        if non_empty and not value.strip():
            raise BodyInvalid(path, "must not be empty")
        if max_length is not None and len(value) > max_length:
            raise BodyInvalid(path, f"must be at most {max_length} characters")

    return check


def boolean() -> Spec:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise BodyInvalid(path, "must be a boolean")

    return check


def enum(*values: str) -> Spec:
    allowed = frozenset(values)

    def check(value: Any, path: str) -> None:
        if value not in allowed:
            listing = ", ".join(sorted(allowed))
            raise BodyInvalid(path, f"must be one of {listing}; got {value!r}")

    return check


def nullable(spec: Spec) -> Spec:
    def check(value: Any, path: str) -> None:
        if value is not None:
            spec(value, path)

    return check


def asset_path() -> Spec:
    """An uploaded ``api-assets/...`` path, a saved item, or a URL (the reference, §2)."""

    def check(value: Any, path: str) -> None:
        string()(value, path)
        if not value.startswith(("api-assets/", "saved-items/", "https://", "http://")):
            raise BodyInvalid(
                path, "must be a URL or a file_path from /v1/files/upload-urls (api-assets/...)"
            )

    return check


def array(item: Spec, *, max_items: int | None = None, min_items: int = 0) -> Spec:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise BodyInvalid(path, "must be an array")
        if len(value) < min_items:
            raise BodyInvalid(path, f"must have at least {min_items} item(s)")
        if max_items is not None and len(value) > max_items:
            raise BodyInvalid(path, f"must have at most {max_items} items")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]")

    return check


def obj(
    required: Mapping[str, Spec] | None = None,
    optional: Mapping[str, Spec] | None = None,
    *,
    one_of: Iterable[str] = (),
) -> Spec:
    """A JSON object. ``one_of``: at least one of these keys must be present (and not null).

    Optional fields may be ``null``: the SDK sends an explicit ``None`` as ``null``.
    """
    required = dict(required or {})
    optional = dict(optional or {})
    at_least_one = tuple(one_of)

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise BodyInvalid(path, "must be an object")
        for key, spec in required.items():
            if value.get(key) is None:
                raise BodyInvalid(_at(path, key), "is required")
            spec(value[key], _at(path, key))
        for key, spec in optional.items():
            if value.get(key) is not None:
                spec(value[key], _at(path, key))
        if at_least_one and all(value.get(key) is None for key in at_least_one):
            raise BodyInvalid(path, f"needs at least one of {', '.join(at_least_one)}")

    return check

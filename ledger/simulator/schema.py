"""A small validator for JSON request bodies, enough to refuse what the real API would refuse.

Why not pydantic: it is not a dependency of ``ledger``, and a handful of composable checks reads
as a table of the reference (``ledger/simulator/catalog.py``), which is what matters here.

A spec is a callable ``(value, path) -> None`` that raises :class:`BodyInvalid`. Objects accept
unknown keys, as the SDK's own models do on the way back; the real API's behaviour for unknown
request keys is undocumented, and refusing them would only make the simulator stricter than the
SDK is.

What a spec refuses is the request's *shape* (a type, an enum, a range of the official
description): Magic Hour answers that 400, "the response ``message`` names the invalid or missing
field" (its quick start). A spec never raises anything but :class:`BodyInvalid`, whatever the JSON:
numbers too large for a float, strings that are not Unicode (lone surrogates), lists where objects
go.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Spec = Callable[[Any, str], None]


class BodyInvalid(Exception):
    """The request body breaks a documented constraint. ``path`` names the field; ``status`` is
    400 for the shape (this module) and 422 for what the service cannot make (``catalog``'s
    rules: a duration a model does not render, a resolution it lacks)."""

    def __init__(self, path: str, message: str, status: int = 400) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.status = status


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_number(value: Any) -> bool:
    """A finite JSON number that fits a double: ``true`` is not 1 here, and Python's ``json``
    lets ``NaN``, ``Infinity`` and integers of any size through, which no JSON number is here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond a double
        return False


def number(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    above: bool = False,
    multiple_of: float | None = None,
) -> Spec:
    """A JSON number within ``[minimum, maximum]`` (``above``: strictly greater than minimum),
    a multiple of ``multiple_of`` if given."""

    def check(value: Any, path: str) -> None:
        if not is_number(value):
            raise BodyInvalid(path, "must be a number")
        if minimum is not None and (value < minimum or (above and value == minimum)):
            relation = ">" if above else ">="
            raise BodyInvalid(path, f"must be {relation} {minimum:g}")
        if maximum is not None and value > maximum:
            raise BodyInvalid(path, f"must be <= {maximum:g}")
        if multiple_of is not None and not _is_multiple(value, multiple_of):
            raise BodyInvalid(path, f"must be a multiple of {multiple_of:g}")

    return check


def _is_multiple(value: float, step: float) -> bool:
    quotient = value / step
    return abs(quotient - round(quotient)) < 1e-9


def integer(minimum: int | None = None, maximum: int | None = None) -> Spec:
    """A whole number (``2.0`` counts: the SDK sends some int-like fields as floats)."""
    bounds = number(minimum, maximum)

    def check(value: Any, path: str) -> None:
        if not is_number(value) or not float(value).is_integer():
            raise BodyInvalid(path, "must be an integer")
        bounds(value, path)

    return check


def is_text(value: Any) -> bool:
    """A string that is Unicode text: JSON's ``"\\ud800"`` decodes to a lone surrogate, which no
    UTF-8 encoder (SQLite's included) takes."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def string(max_length: int | None = None, *, non_empty: bool = True) -> Spec:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise BodyInvalid(path, "must be a string")
        if not is_text(value):
            raise BodyInvalid(path, "must be valid Unicode text")
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


def enum(*values: Any) -> Spec:
    """One of ``values``. Strings only match strings and numbers numbers (``1`` and ``1.0`` are
    the same JSON number; ``true`` is not 1)."""
    allowed = frozenset(values)

    def check(value: Any, path: str) -> None:
        hashable = isinstance(value, str | int | float) and not isinstance(value, bool)
        if not hashable or value not in allowed:
            if len(allowed) > 20:
                message = f"must be one of the {len(allowed)} documented values; got {value!r}"
            else:
                listing = ", ".join(sorted(str(v) for v in allowed))
                message = f"must be one of {listing}; got {value!r}"
            raise BodyInvalid(path, message[:500])

    return check


def nullable(spec: Spec) -> Spec:
    def check(value: Any, path: str) -> None:
        if value is not None:
            spec(value, path)

    return check


def asset_path() -> Spec:
    """A URL or a ``file_path`` (from ``/v1/files/upload-urls``, a saved item): the official
    description asks only for a non-empty string, and its own examples are ``api-assets/id/...``
    and ``video/id/1234.mp4`` alike, so no prefix is required."""
    return string()


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

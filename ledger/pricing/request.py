"""Reading the fields of a create request that its cost depends on.

Arithmetic is exact (:class:`~fractions.Fraction`): a JSON number is taken as the decimal the
client wrote, so ``end_seconds: 5.01`` at 48 credits a second is 240.48 credits, rounded up to
241, and a rate of 0.1 credits per character never picks up binary rounding noise.

Every helper raises :class:`~ledger.errors.InvalidInput` naming the field when a value is bad.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ledger.errors import InvalidInput

Path = tuple[str, ...]  # a request field, "style.prompt" as ("style", "prompt")


class _Missing:
    """A field that is absent or JSON null (the SDK sends null for an explicit None)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def show(value: Any) -> str:
    """A short, safe rendering of a client value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
        return "a number too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


def name_of(path: Path) -> str:
    return ".".join(path)


def lookup(body: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path``, or :data:`MISSING`."""
    node: Any = body
    for depth, part in enumerate(path):
        if not isinstance(node, dict):
            raise InvalidInput(f"{'.'.join(path[:depth])} must be an object, got {show(node)}")
        node = node.get(part)
        if node is None:
            return MISSING
    return node


def as_number(value: Any, name: str) -> Fraction:
    # bool is an int subclass in Python, but `true` is not a number in a request body.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number, got {show(value)}", field=name)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{name} must be a finite number, got {show(value)}", field=name)
        # repr is the shortest decimal that round-trips: the number the client wrote.
        return Fraction(repr(value))
    return Fraction(value)


def required_number(body: Mapping[str, Any], path: Path) -> Fraction:
    raw = lookup(body, path)
    if raw is MISSING:
        raise InvalidInput(f"{name_of(path)} is required", field=name_of(path))
    return as_number(raw, name_of(path))


def optional_number(body: Mapping[str, Any], path: Path) -> Fraction | None:
    raw = lookup(body, path)
    return None if raw is MISSING else as_number(raw, name_of(path))


def format_number(number: Fraction) -> str:
    """A number for an error message: exact when short, else 15 significant digits."""
    if number.denominator == 1 and abs(number) < 10**15:
        return str(number.numerator)
    try:
        return f"{float(number):.15g}"
    except OverflowError:  # a JSON int can be far beyond any float
        return "a number too large to show"


def key_of(value: Any, name: str) -> str:
    """The table key a request value selects: strings as-is, integral numbers without '.0'."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = as_number(value, name)
        return str(number.numerator) if number.denominator == 1 else repr(float(value))
    raise InvalidInput(f"{name} must be a string or a number, got {show(value)}", field=name)


def utf16_length(text: str) -> int:
    # Counted in UTF-16 code units, as a JavaScript backend would: never fewer than code points,
    # so an emoji-heavy prompt is not under-reserved.
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)

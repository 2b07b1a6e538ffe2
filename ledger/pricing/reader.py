"""Reading the pricing table's TOML: one table at a time, every key used or refused.

A mistake is a :class:`PricingError` whose message is one line: the file, the key, what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ledger.pricing.request import show

FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class PricingError(Exception):
    """The pricing table has a mistake. The message is one line naming the file and the key."""


def one_line(text: str) -> str:
    return " ".join(text.split())


class Section:
    """One TOML table being read; remembers which keys were used so leftovers are refused."""

    def __init__(self, source: str, where: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.where = where
        self.data = data
        self.used: set[str] = set()

    def error(self, key: str | None, message: str) -> PricingError:
        where = self.where if key is None else self.child(key)
        return PricingError(one_line(f"{self.source}: {where}: {message}"))

    def child(self, key: str) -> str:
        return f"{self.where}.{toml_key(key)}" if self.where else toml_key(key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def number(
        self, key: str, *, default: Fraction | None = None, positive: bool = False
    ) -> Fraction | None:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, got {show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {show(value)}")
        number = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        if number < 0 or (positive and number == 0):
            raise self.error(key, f"must be {'>' if positive else '>='} 0, got {show(value)}")
        return number

    def required_number(self, key: str, *, positive: bool = False) -> Fraction:
        if not self.has(key):
            raise self.error(key, "is required")
        number = self.number(key, positive=positive)
        assert number is not None
        return number

    def integer(self, key: str, default: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, f"must be a whole number >= 1, got {show(value)}")
        return value

    def string(self, key: str) -> str | None:
        value = self.raw(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.error(key, f"must be a non-empty string, got {show(value)}")
        return value

    def field(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.error(key, "is required (the name of a request field)")
            return None
        if not isinstance(value, str) or not FIELD_PATH.fullmatch(value):
            raise self.error(
                key,
                f"must be a request field name like 'end_seconds' or 'style.prompt', "
                f"got {show(value)}",
            )
        return tuple(value.split("."))

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {show(value)}")
        return value

    def names(self, key: str) -> frozenset[str]:
        value = self.raw(key)
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a list of names (strings)")
        return frozenset(value)

    def table(self, key: str) -> Section | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {show(value)}")
        return Section(self.source, self.child(key), value)

    def finish(self, hint: str = "") -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], f"unknown key{hint}")


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def rate_number(section: Section, key: str, value: Any) -> Fraction:
    """A rate written in a nested table (``values."kling-3.0" = { "4k" = 240 }``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise section.error(key, f"must be a number, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise section.error(key, f"must be a finite number, got {show(value)}")
    number = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    if number < 0:
        raise section.error(key, f"must be >= 0 (a rate is never negative), got {show(value)}")
    return number

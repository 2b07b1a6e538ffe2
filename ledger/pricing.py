"""Estimate the credits a Magic Hour create request will cost, before it is sent.

The estimate is what the proxy reserves against a team's budget; the hold later settles to what
Magic Hour actually charged, so the table errs on the side of covering the real charge.

The rules live in a TOML table (the built-in ``ledger/pricing.toml``, or the file named by
``LEDGER_PRICING``); its schema is documented at the top of that file. :meth:`PricingTable.load`
validates the whole table at start and raises :class:`PricingError` with one line naming the file,
the key and what is wrong. :meth:`PricingTable.estimate` validates only the request fields that
the cost depends on (the upstream validates the rest) and raises :class:`InvalidInput` naming the
field.

Arithmetic is exact (:class:`~fractions.Fraction`): a JSON number is taken as the decimal the
client wrote, so ``end_seconds: 5.01`` at 30 FPS is 150.3 frames, rounded up to 151, and a rate of
0.1 credits per character never picks up binary rounding noise.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from ledger.errors import InvalidInput, NotFound

KINDS = ("video", "image", "audio")
RULES = ("per_frame", "per_second", "per_image", "per_character", "fixed")

# Sanity limits used when an endpoint does not set its own (see the top of pricing.toml).
DEFAULT_MAX_SECONDS = 3600
DEFAULT_MAX_FPS = 120
DEFAULT_MAX_COUNT = 16
MAX_MARGIN_PERCENT = 100

BUILTIN_LABEL = "ledger/pricing.toml (built-in)"

_ENDPOINT_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ONE = Fraction(1)


class PricingError(Exception):
    """The pricing table has a mistake. The message is one line naming the file and the key."""


@dataclass(frozen=True)
class Estimate:
    endpoint: str  # the path after /v1/, e.g. "image-to-video"
    kind: str  # "video" | "image" | "audio": which /v1/<kind>-projects/{id} the project lives under
    model: str | None  # the model the request names, if any (for reports)
    credits: int  # whole credits to reserve, >= 0
    seconds: float | None = None  # the clip length, for duration-priced endpoints


# --------------------------------------------------------------------------------------------
# Reading a request body


class _Missing:
    """A field that is absent or JSON null (the SDK sends null for an explicit None)."""


_MISSING = _Missing()


def _show(value: Any) -> str:
    """A short, safe rendering of a client value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
        return "a number too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


def _lookup(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = body
    for depth, part in enumerate(path):
        if not isinstance(node, dict):
            raise InvalidInput(f"{'.'.join(path[:depth])} must be an object, got {_show(node)}")
        node = node.get(part)
        if node is None:
            return _MISSING
    return node


def _as_number(value: Any, name: str) -> Fraction:
    # bool is an int subclass in Python, but `true` is not a number in a request body.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number, got {_show(value)}", field=name)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{name} must be a finite number, got {_show(value)}", field=name)
        # repr is the shortest decimal that round-trips: the number the client wrote.
        return Fraction(repr(value))
    return Fraction(value)


def _required_number(body: Mapping[str, Any], path: tuple[str, ...]) -> Fraction:
    name = ".".join(path)
    raw = _lookup(body, path)
    if raw is _MISSING:
        raise InvalidInput(f"{name} is required", field=name)
    return _as_number(raw, name)


def _optional_number(body: Mapping[str, Any], path: tuple[str, ...]) -> Fraction | None:
    raw = _lookup(body, path)
    return None if raw is _MISSING else _as_number(raw, ".".join(path))


def _format(number: Fraction) -> str:
    """A number for an error message: exact when short, else 15 significant digits."""
    if number.denominator == 1 and abs(number) < 10**15:
        return str(number.numerator)
    try:
        return f"{float(number):.15g}"
    except OverflowError:  # a JSON int can be far beyond any float
        return "a number too large to show"


def _lookup_key(value: Any, name: str) -> str:
    """The table key a request value selects: strings as-is, integral numbers without '.0'."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = _as_number(value, name)
        return str(number.numerator) if number.denominator == 1 else repr(float(value))
    raise InvalidInput(f"{name} must be a string or a number, got {_show(value)}", field=name)


def _utf16_length(text: str) -> int:
    # Counted in UTF-16 code units, as a JavaScript backend would: never fewer than code points,
    # so an emoji-heavy prompt is not under-reserved.
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


# --------------------------------------------------------------------------------------------
# The compiled table


@dataclass(frozen=True)
class _Lookup:
    """A multiplier chosen by the value of one request field (model, resolution, mode...)."""

    field: tuple[str, ...]
    multipliers: Mapping[str, Fraction]
    default: str | None  # the key used when the field is absent; None: the highest multiplier
    required: bool
    strings_only: bool

    @property
    def name(self) -> str:
        return ".".join(self.field)

    def value(self, body: Mapping[str, Any]) -> str | None:
        """The key the request selects (its own value, or the default), None if neither."""
        raw = _lookup(body, self.field)
        if raw is _MISSING:
            if self.required:
                raise InvalidInput(f"{self.name} is required", field=self.name)
            return self.default
        if self.strings_only and not isinstance(raw, str):
            raise InvalidInput(f"{self.name} must be a string, got {_show(raw)}", field=self.name)
        return _lookup_key(raw, self.name)

    def multiplier(self, key: str | None) -> Fraction:
        # A value the table does not know (a new model, a future resolution) gets the highest
        # multiplier of its table: the hold must cover the real charge, and the rest returns.
        if key is None or key not in self.multipliers:
            return max(self.multipliers.values())
        return self.multipliers[key]


@dataclass(frozen=True)
class _Audio:
    """A surcharge when the request turns audio on, unless its model makes audio free."""

    field: tuple[str, ...]
    multiplier: Fraction
    free_models: frozenset[str]
    alias_models: frozenset[str]  # deprecated model names that mean audio: true

    def factor(self, body: Mapping[str, Any], model: str | None) -> Fraction:
        name = ".".join(self.field)
        raw = _lookup(body, self.field)
        if raw is not _MISSING and not isinstance(raw, bool):
            raise InvalidInput(f"{name} must be true or false, got {_show(raw)}", field=name)
        audio_on = raw is True or (model is not None and model in self.alias_models)
        if not audio_on or (model is not None and model in self.free_models):
            return _ONE
        return self.multiplier


@dataclass(frozen=True)
class _Price:
    endpoint: str
    kind: str
    rule: str
    rate: Fraction  # credits per frame / second / image / character, or the fixed price
    margin_percent: Fraction
    # duration (per_frame, per_second)
    end_field: tuple[str, ...] | None = None
    start_field: tuple[str, ...] | None = None
    duration_field: tuple[str, ...] | None = None
    max_seconds: Fraction = Fraction(DEFAULT_MAX_SECONDS)
    # frames per second (per_frame)
    fps: Fraction | None = None
    fps_field: tuple[str, ...] | None = None
    fps_cap_field: tuple[str, ...] | None = None
    max_fps: Fraction = Fraction(DEFAULT_MAX_FPS)
    # count (per_image)
    count_field: tuple[str, ...] | None = None
    default_count: int = 1
    max_count: int = DEFAULT_MAX_COUNT
    # text (per_character)
    text_field: tuple[str, ...] | None = None
    # multipliers
    model: _Lookup | None = None
    resolution: _Lookup | None = None
    audio: _Audio | None = None
    lookups: tuple[_Lookup, ...] = ()

    def estimate(self, body: Mapping[str, Any]) -> Estimate:
        seconds = self._seconds(body) if self.rule in ("per_frame", "per_second") else None
        amount = self.rate * self._quantity(body, seconds)

        model_key: str | None = None
        named_model: str | None = None
        if self.model is not None:
            model_key = self.model.value(body)
            raw = _lookup(body, self.model.field)
            named_model = raw if isinstance(raw, str) else None
            amount *= self.model.multiplier(model_key)
        if self.resolution is not None:
            amount *= self.resolution.multiplier(self.resolution.value(body))
        if self.audio is not None:
            amount *= self.audio.factor(body, model_key)
        for lookup in self.lookups:
            amount *= lookup.multiplier(lookup.value(body))
        amount *= (100 + self.margin_percent) / 100

        return Estimate(
            self.endpoint,
            self.kind,
            named_model,
            math.ceil(amount),
            float(seconds) if seconds is not None else None,
        )

    def _quantity(self, body: Mapping[str, Any], seconds: Fraction | None) -> Fraction:
        if self.rule == "per_frame":
            assert seconds is not None
            # Whole frames: the upstream renders (and bills) no partial frame.
            return Fraction(math.ceil(seconds * self._fps(body)))
        if self.rule == "per_second":
            assert seconds is not None
            return seconds
        if self.rule == "per_image":
            return Fraction(self._count(body))
        if self.rule == "per_character":
            return Fraction(self._characters(body))
        return _ONE  # fixed

    def _seconds(self, body: Mapping[str, Any]) -> Fraction:
        if self.duration_field is not None:
            name = ".".join(self.duration_field)
            seconds = _required_number(body, self.duration_field)
            if seconds <= 0:
                raise InvalidInput(f"{name} must be > 0, got {_format(seconds)}", field=name)
        else:
            assert self.end_field is not None  # guaranteed by the loader
            name = ".".join(self.end_field)
            end = _required_number(body, self.end_field)
            if end <= 0:
                raise InvalidInput(f"{name} must be > 0, got {_format(end)}", field=name)
            start = Fraction(0)
            if self.start_field is not None:
                start_name = ".".join(self.start_field)
                given = _optional_number(body, self.start_field)
                if given is not None:
                    if given < 0:
                        raise InvalidInput(
                            f"{start_name} must be >= 0, got {_format(given)}", field=start_name
                        )
                    if end <= given:
                        raise InvalidInput(
                            f"{name} ({_format(end)}) must be greater than "
                            f"{start_name} ({_format(given)})",
                            field=name,
                        )
                    start = given
            seconds = end - start
        if seconds > self.max_seconds:
            raise InvalidInput(
                f"{name}: the duration must be at most {_format(self.max_seconds)} s "
                f"for {self.endpoint}, got {_format(seconds)}",
                field=name,
            )
        return seconds

    def _fps(self, body: Mapping[str, Any]) -> Fraction:
        fps = self.fps
        if self.fps_field is not None:
            name = ".".join(self.fps_field)
            given = _optional_number(body, self.fps_field)
            if given is None and fps is None:
                raise InvalidInput(f"{name} is required", field=name)
            if given is not None:
                if not 0 < given <= self.max_fps:
                    raise InvalidInput(
                        f"{name} must be > 0 and <= {_format(self.max_fps)}, got {_format(given)}",
                        field=name,
                    )
                fps = given
        assert fps is not None  # guaranteed by the loader
        if self.fps_cap_field is not None:
            cap = _optional_number(body, self.fps_cap_field)
            if cap is not None:
                name = ".".join(self.fps_cap_field)
                if cap <= 0:
                    raise InvalidInput(f"{name} must be > 0, got {_format(cap)}", field=name)
                fps = min(fps, cap)
        return fps

    def _count(self, body: Mapping[str, Any]) -> int:
        if self.count_field is None:
            return self.default_count
        name = ".".join(self.count_field)
        given = _optional_number(body, self.count_field)
        if given is None:
            return self.default_count
        # The SDK sends the image editor's image_count as a float (2.0): integral floats are fine.
        if given.denominator != 1 or not 1 <= given <= self.max_count:
            raise InvalidInput(
                f"{name} must be a whole number from 1 to {self.max_count}, got {_format(given)}",
                field=name,
            )
        return int(given)

    def _characters(self, body: Mapping[str, Any]) -> int:
        assert self.text_field is not None  # guaranteed by the loader
        name = ".".join(self.text_field)
        text = _lookup(body, self.text_field)
        if text is _MISSING:
            raise InvalidInput(f"{name} is required", field=name)
        if not isinstance(text, str):
            raise InvalidInput(f"{name} must be a string, got {_show(text)}", field=name)
        return _utf16_length(text)


class PricingTable:
    """The validated pricing table: which create endpoints are priced, and how."""

    def __init__(self, prices: Mapping[str, _Price], source: str) -> None:
        self._prices = dict(prices)
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> PricingTable:
        """Read and validate a pricing table; ``None`` reads the built-in ``ledger/pricing.toml``.

        Raises :class:`PricingError` (one line naming the file and the key) for any mistake.
        """
        if path is None:
            source = BUILTIN_LABEL
            data = resources.files("ledger").joinpath("pricing.toml").read_bytes()
        else:
            source = str(path)
            try:
                data = Path(path).read_bytes()
            except FileNotFoundError:
                raise PricingError(f"{source}: no such file") from None
            except OSError as exc:
                raise PricingError(_one_line(f"{source}: cannot read: {exc.strerror}")) from None
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise PricingError(f"{source}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise PricingError(_one_line(f"{source}: not valid TOML: {exc}")) from None
        return cls(_compile(document, source), source)

    def endpoints(self) -> list[str]:
        """The priced endpoints (paths after ``/v1/``), sorted."""
        return sorted(self._prices)

    def kind_of(self, endpoint: str) -> str | None:
        """``video``, ``image`` or ``audio`` for a priced endpoint; None if it is not priced."""
        price = self._prices.get(endpoint)
        return None if price is None else price.kind

    def estimate(self, endpoint: str, body: object) -> Estimate:
        """The credits to reserve for ``POST /v1/<endpoint>`` with this parsed JSON body.

        Raises :class:`NotFound` for an endpoint the table does not price, and
        :class:`InvalidInput` naming the field when a field the cost depends on is bad.
        """
        price = self._prices.get(endpoint)
        if price is None:
            raise NotFound(f"no price for endpoint {endpoint!r}", endpoint=endpoint)
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object")
        return price.estimate(body)


# --------------------------------------------------------------------------------------------
# Loading and validating the table


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Section:
    """One TOML table being read; remembers which keys were used so leftovers are refused."""

    def __init__(self, source: str, where: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.where = where
        self.data = data
        self.used: set[str] = set()

    def error(self, key: str | None, message: str) -> PricingError:
        where = self.where if key is None else self._child(key)
        return PricingError(_one_line(f"{self.source}: {where}: {message}"))

    def _child(self, key: str) -> str:
        return f"{self.where}.{_toml_key(key)}" if self.where else _toml_key(key)

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
            raise self.error(key, f"must be a number, got {_show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {_show(value)}")
        number = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        if number < 0 or (positive and number == 0):
            raise self.error(key, f"must be {'>' if positive else '>='} 0, got {_show(value)}")
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
            raise self.error(key, f"must be a whole number >= 1, got {_show(value)}")
        return value

    def string(self, key: str) -> str | None:
        value = self.raw(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.error(key, f"must be a non-empty string, got {_show(value)}")
        return value

    def field(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.error(key, "is required (the name of a request field)")
            return None
        if not isinstance(value, str) or not _FIELD_PATH.fullmatch(value):
            raise self.error(
                key,
                f"must be a request field name like 'end_seconds' or 'style.prompt', "
                f"got {_show(value)}",
            )
        return tuple(value.split("."))

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_show(value)}")
        return value

    def names(self, key: str) -> frozenset[str]:
        value = self.raw(key)
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a list of names (strings)")
        return frozenset(value)

    def table(self, key: str) -> _Section | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {_show(value)}")
        return _Section(self.source, self._child(key), value)

    def finish(self, hint: str = "") -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], f"unknown key{hint}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _compile(document: Mapping[str, Any], source: str) -> dict[str, _Price]:
    top = _Section(source, "", document)
    default_margin = _margin(top, "default_margin_percent", Fraction(0))
    endpoints = top.table("endpoints")
    top.finish()
    if endpoints is None or not endpoints.data:
        raise PricingError(f"{source}: endpoints: no endpoint is priced")

    prices: dict[str, _Price] = {}
    for name in endpoints.data:
        if not _ENDPOINT_NAME.fullmatch(name):
            raise endpoints.error(
                name, "is not an endpoint name (the path after /v1/, like 'image-to-video')"
            )
        section = endpoints.table(name)
        if section is None:  # pragma: no cover - a TOML table key always has a value
            continue
        prices[name] = _compile_endpoint(name, section, default_margin)
    return prices


def _margin(section: _Section, key: str, default: Fraction) -> Fraction:
    margin = section.number(key, default=default)
    assert margin is not None
    if margin > MAX_MARGIN_PERCENT:
        raise section.error(key, f"must be from 0 to {MAX_MARGIN_PERCENT} (percent)")
    return margin


def _compile_endpoint(name: str, section: _Section, default_margin: Fraction) -> _Price:
    kind = _choice(section, "kind", KINDS)
    rule = _choice(section, "rule", RULES)

    options: dict[str, Any] = {}
    if rule in ("per_frame", "per_second"):
        options.update(_duration(section))
    if rule == "per_frame":
        rate = section.required_number("credits_per_frame")
        options.update(_frame_rate(section))
    elif rule == "per_second":
        rate = section.required_number("credits_per_second")
    elif rule == "per_image":
        rate = section.required_number("credits_per_image")
        options["count_field"] = section.field("count_field")
        options["max_count"] = section.integer("max_count", DEFAULT_MAX_COUNT)
        options["default_count"] = section.integer("default_count", 1)
        if options["default_count"] > options["max_count"]:
            raise section.error("default_count", "must not be above max_count")
    elif rule == "per_character":
        rate = section.required_number("credits_per_character")
        options["text_field"] = section.field("text_field", required=True)
    else:
        rate = section.required_number("credits")

    model = _compile_lookup(section, "model", strings_only=True)
    audio = _compile_audio(section, model)
    price = _Price(
        endpoint=name,
        kind=kind,
        rule=rule,
        rate=rate,
        margin_percent=_margin(section, "margin_percent", default_margin),
        model=model,
        resolution=_compile_lookup(section, "resolution", strings_only=True),
        audio=audio,
        lookups=_compile_lookups(section),
        **options,
    )
    section.finish(f" for rule {rule!r}")
    return price


def _choice(section: _Section, key: str, choices: tuple[str, ...]) -> str:
    value = section.raw(key)
    if value is None:
        raise section.error(key, f"is required (one of {', '.join(choices)})")
    if value not in choices:
        raise section.error(key, f"must be one of {', '.join(choices)}, got {_show(value)}")
    return str(value)


def _duration(section: _Section) -> dict[str, Any]:
    if section.has("duration_field"):
        if section.has("end_field") or section.has("start_field"):
            raise section.error("duration_field", "give either duration_field or end_field")
        options: dict[str, Any] = {"duration_field": section.field("duration_field")}
    else:
        if not section.has("end_field"):
            raise section.error("end_field", "is required (or duration_field)")
        options = {
            "end_field": section.field("end_field", required=True),
            "start_field": section.field("start_field"),
        }
    options["max_seconds"] = section.number(
        "max_seconds", default=Fraction(DEFAULT_MAX_SECONDS), positive=True
    )
    return options


def _frame_rate(section: _Section) -> dict[str, Any]:
    options: dict[str, Any] = {
        "fps": section.number("fps", positive=True),
        "fps_field": section.field("fps_field"),
        "fps_cap_field": section.field("fps_cap_field"),
        "max_fps": section.number("max_fps", default=Fraction(DEFAULT_MAX_FPS), positive=True),
    }
    if options["fps"] is None and options["fps_field"] is None:
        raise section.error("fps", "is required (a number, or fps_field naming a request field)")
    if options["fps"] is not None and options["fps"] > options["max_fps"]:
        raise section.error("fps", f"must not be above max_fps ({_format(options['max_fps'])})")
    return options


def _compile_lookup(section: _Section, key: str, *, strings_only: bool) -> _Lookup | None:
    table = section.table(key)
    return None if table is None else _lookup_from(table, strings_only=strings_only)


def _compile_lookups(section: _Section) -> tuple[_Lookup, ...]:
    value = section.raw("lookup")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise section.error("lookup", "must be an array of tables ([[endpoints.NAME.lookup]])")
    return tuple(
        _lookup_from(
            _Section(section.source, f"{section.where}.lookup[{index}]", item),
            strings_only=False,
        )
        for index, item in enumerate(value)
    )


def _lookup_from(table: _Section, *, strings_only: bool) -> _Lookup:
    field = table.field("field", required=True)
    assert field is not None
    values = table.table("multipliers")
    if values is None or not values.data:
        raise table.error("multipliers", "is required (a table of value = multiplier)")
    multipliers = {}
    for value in values.data:
        multiplier = values.number(value)
        assert multiplier is not None
        multipliers[value] = multiplier
    default = table.string("default")
    if default is not None and default not in multipliers:
        raise table.error("default", f"{default!r} is not one of the multipliers")
    required = table.boolean("required")
    if required and default is not None:
        raise table.error("default", "makes no sense with required = true")
    table.finish()
    return _Lookup(field, multipliers, default, required, strings_only)


def _compile_audio(section: _Section, model: _Lookup | None) -> _Audio | None:
    table = section.table("audio")
    if table is None:
        return None
    field = table.field("field", required=True)
    assert field is not None
    multiplier = table.required_number("multiplier")
    free_models = table.names("free_models")
    alias_models = table.names("alias_models")
    if model is None and (free_models or alias_models):
        raise table.error(
            "free_models" if free_models else "alias_models",
            "needs a [model] table on the same endpoint to know the request's model",
        )
    table.finish()
    return _Audio(field, multiplier, free_models, alias_models)

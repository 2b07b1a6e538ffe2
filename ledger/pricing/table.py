"""Reading and checking the pricing table.

The rules live in a TOML table (the built-in ``ledger/pricing/pricing.toml``, the same file as
``config/pricing.toml``, or the file named by ``LEDGER_PRICING``); its format is documented at the
top of that file. :meth:`PricingTable.load` checks the whole table at start and raises
:class:`PricingError` with one line naming the file, the key and what is wrong: an unknown rule
or key, a negative rate, an audio surcharge for a model the rates do not list, a pick that names
a value without a price. :meth:`PricingTable.estimate` reads only the request fields that the cost
depends on (the upstream checks the rest) and raises :class:`~ledger.errors.InvalidInput` naming
the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from ledger.errors import InvalidInput, NotFound
from ledger.pricing.request import show
from ledger.pricing.rules import (
    PAID_PLANS,
    PLANS,
    Audio,
    Choice,
    Estimate,
    Multiplier,
    PickRule,
    Price,
    Rates,
)

KINDS = ("video", "image", "audio")
RULES = ("per_frame", "per_second", "per_image", "per_character", "fixed")
RATE_KEYS = {
    "per_frame": "credits_per_frame",
    "per_second": "credits_per_second",
    "per_image": "credits_per_image",
    "per_character": "credits_per_character",
    "fixed": "credits",
}

# Sanity limits used when an endpoint does not set its own (see the top of pricing.toml).
DEFAULT_MAX_SECONDS = 3600
DEFAULT_MAX_FPS = 120
DEFAULT_MAX_COUNT = 16
MAX_MARGIN_PERCENT = 100

BUILTIN_LABEL = "ledger/pricing/pricing.toml (built-in)"

_ENDPOINT_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class PricingError(Exception):
    """The pricing table has a mistake. The message is one line naming the file and the key."""


class PricingTable:
    """The checked pricing table for one plan: which create endpoints are priced, and how."""

    def __init__(self, prices: Mapping[str, Price], source: str, plan: str) -> None:
        self._prices = dict(prices)
        self.source = source
        self.plan = plan

    @classmethod
    def load(cls, path: Path | None = None, *, plan: str = "creator") -> PricingTable:
        """Read and check a pricing table; ``None`` reads the built-in one.

        ``plan`` is the company's Magic Hour plan (``LEDGER_PLAN``): it decides what a request that
        names no model or resolution is priced as. Raises :class:`PricingError` for any mistake.
        """
        if plan not in PLANS:
            raise PricingError(f"plan must be one of {', '.join(PLANS)}, got {plan!r}")
        if path is None:
            source = BUILTIN_LABEL
            data = resources.files("ledger.pricing").joinpath("pricing.toml").read_bytes()
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
        return cls(_compile(document, source, plan), source, plan)

    def endpoints(self) -> list[str]:
        """The priced endpoints (paths after ``/v1/``), sorted."""
        return sorted(self._prices)

    def kind_of(self, endpoint: str) -> str | None:
        """``video``, ``image`` or ``audio`` for a priced endpoint; None if it is not priced."""
        price = self._prices.get(endpoint)
        return None if price is None else price.kind

    def price_of(self, endpoint: str) -> Price | None:
        return self._prices.get(endpoint)

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
# Reading TOML tables


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
        if not isinstance(value, str) or not _FIELD_PATH.fullmatch(value):
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

    def table(self, key: str) -> _Section | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {show(value)}")
        return _Section(self.source, self._child(key), value)

    def finish(self, hint: str = "") -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], f"unknown key{hint}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _rate_number(section: _Section, key: str, value: Any) -> Fraction:
    """A rate written in a nested table (``values."kling-3.0" = { "4k" = 240 }``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise section.error(key, f"must be a number, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise section.error(key, f"must be a finite number, got {show(value)}")
    number = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    if number < 0:
        raise section.error(key, f"must be >= 0 (a rate is never negative), got {show(value)}")
    return number


# --------------------------------------------------------------------------------------------
# Compiling the table


def _compile(document: Mapping[str, Any], source: str, plan: str) -> dict[str, Price]:
    top = _Section(source, "", document)
    default_margin = _margin(top, "default_margin_percent", Fraction(0))
    endpoints = top.table("endpoints")
    top.finish()
    if endpoints is None or not endpoints.data:
        raise PricingError(f"{source}: endpoints: no endpoint is priced")

    prices: dict[str, Price] = {}
    for name in endpoints.data:
        if not _ENDPOINT_NAME.fullmatch(name):
            raise endpoints.error(
                name, "is not an endpoint name (the path after /v1/, like 'image-to-video')"
            )
        section = endpoints.table(name)
        if section is None:  # pragma: no cover - a TOML table key always has a value
            continue
        prices[name] = _compile_endpoint(name, section, default_margin, plan)
    return prices


def _margin(section: _Section, key: str, default: Fraction) -> Fraction:
    margin = section.number(key, default=default)
    assert margin is not None
    if margin > MAX_MARGIN_PERCENT:
        raise section.error(key, f"must be from 0 to {MAX_MARGIN_PERCENT} (percent)")
    return margin


def _compile_endpoint(name: str, section: _Section, default_margin: Fraction, plan: str) -> Price:
    kind = _choice(section, "kind", KINDS)
    rule = _choice(section, "rule", RULES)

    options: dict[str, Any] = {}
    if rule in ("per_frame", "per_second"):
        options.update(_duration(section))
    if rule == "per_frame":
        options.update(_frame_rate(section))
    elif rule == "per_image":
        options["count_field"] = section.field("count_field")
        options["max_count"] = section.integer("max_count", DEFAULT_MAX_COUNT)
        options["default_count"] = section.integer("default_count", 1)
        if options["default_count"] > options["max_count"]:
            raise section.error("default_count", "must not be above max_count")
    elif rule == "per_character":
        options["text_field"] = section.field("text_field", required=True)

    choices: dict[str, Choice] = {}
    rates = _compile_rates(section, choices)
    rate_key = RATE_KEYS[rule]
    if rates is None:
        rate = section.required_number(rate_key)
    elif section.has(rate_key):
        raise section.error(rate_key, "give either this or a [rates] table, not both")
    else:
        rate = Fraction(0)
    multipliers = _compile_multipliers(section, choices)
    _compile_picks(section, choices, rates, multipliers)
    _compile_aliases(section, choices)
    _compile_required(section, choices)
    price = Price(
        endpoint=name,
        kind=kind,
        rule=rule,
        rate=rate,
        margin_percent=_margin(section, "margin_percent", default_margin),
        plan=plan,
        choices=choices,
        rates=rates,
        multipliers=multipliers,
        audio=_compile_audio(section, rates),
        **options,
    )
    section.finish(f" for rule {rule!r}")
    return price


def _choice(section: _Section, key: str, choices: tuple[str, ...]) -> str:
    value = section.raw(key)
    if value is None:
        raise section.error(key, f"is required (one of {', '.join(choices)})")
    if value not in choices:
        raise section.error(key, f"must be one of {', '.join(choices)}, got {show(value)}")
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
        "min_fps": section.number("min_fps", positive=True),
        "max_fps": section.number("max_fps", default=Fraction(DEFAULT_MAX_FPS), positive=True),
    }
    if options["fps"] is None and options["fps_field"] is None:
        raise section.error("fps", "is required (a number, or fps_field naming a request field)")
    if options["fps"] is not None and options["fps"] > options["max_fps"]:
        raise section.error("fps", f"must not be above max_fps ({_format(options['max_fps'])})")
    return options


def _format(number: Fraction) -> str:
    return str(number.numerator) if number.denominator == 1 else f"{float(number):g}"


def _new_choice(
    table: _Section, key: str, choices: dict[str, Choice], *, strings_only: bool = True
) -> str:
    path = table.field(key, required=True)
    assert path is not None
    name = ".".join(path)
    if name in choices:
        raise table.error(key, f"{name!r} already picks a price on this endpoint")
    choices[name] = Choice(path, strings_only=strings_only)
    return name


def _compile_rates(section: _Section, choices: dict[str, Choice]) -> Rates | None:
    table = section.table("rates")
    if table is None:
        return None
    fields = table.raw("fields")
    if (
        not isinstance(fields, list)
        or not 1 <= len(fields) <= 2
        or not all(isinstance(f, str) for f in fields)
    ):
        raise table.error("fields", "must list one or two request fields, like ['model']")
    names = []
    for index, field_name in enumerate(fields):
        path_section = _Section(table.source, f"{table.where}.fields[{index}]", {"f": field_name})
        # Model and resolution names are strings; other fields may be numbers (scale_factor: 2).
        strings_only = field_name in ("model", "resolution")
        names.append(_new_choice(path_section, "f", choices, strings_only=strings_only))
    values = table.table("values")
    if values is None or not values.data:
        raise table.error("values", "is required (a table of value = rate)")
    rates: dict[tuple[str, ...], Fraction] = {}
    for first, cell in values.data.items():
        values.raw(first)
        if len(names) == 1:
            rates[(first,)] = _rate_number(values, first, cell)
            continue
        if not isinstance(cell, dict) or not cell:
            raise values.error(first, f"must be a table of {names[1]} = rate")
        inner = _Section(values.source, values._child(first), cell)
        for second, rate in cell.items():
            rates[(first, second)] = _rate_number(inner, second, rate)
    table.finish()
    return Rates(tuple(names), rates)


def _compile_multipliers(section: _Section, choices: dict[str, Choice]) -> tuple[Multiplier, ...]:
    value = section.raw("multiplier")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise section.error("multiplier", "must be an array of tables ([[endpoints.X.multiplier]])")
    found = []
    for index, item in enumerate(value):
        table = _Section(section.source, f"{section.where}.multiplier[{index}]", item)
        name = _new_choice(table, "field", choices, strings_only=False)
        factors = table.table("factors")
        if factors is None or not factors.data:
            raise table.error("factors", "is required (a table of value = factor)")
        numbers = {}
        for key in factors.data:
            number = factors.number(key)
            assert number is not None
            numbers[key] = number
        table.finish()
        found.append(Multiplier(choices[name], numbers))
    return tuple(found)


def _known_values(name: str, rates: Rates | None, multipliers: tuple[Multiplier, ...]) -> set[str]:
    known: set[str] = set()
    if rates is not None and name in rates.names:
        position = rates.names.index(name)
        known = {key[position] for key in rates.values}
    for multiplier in multipliers:
        if multiplier.choice.name == name:
            known |= set(multiplier.factors)
    return known


def _plans(table: _Section, key: str) -> frozenset[str]:
    value = table.raw(key)
    if value is None:
        return frozenset()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise table.error(key, "must be a plan name or a list of them")
    plans: set[str] = set()
    for name in names:
        if name == "paid":
            plans |= set(PAID_PLANS)
        elif name in PLANS:
            plans.add(name)
        else:
            raise table.error(key, f"must name plans ({', '.join(PLANS)}, or paid), got {name!r}")
    return frozenset(plans)


def _compile_picks(
    section: _Section,
    choices: dict[str, Choice],
    rates: Rates | None,
    multipliers: tuple[Multiplier, ...],
) -> None:
    """``[endpoints.X.absent]``: what Magic Hour picks when a field is left out, in the order
    written (a pick's ``when`` may name a field resolved above it)."""
    absent = section.table("absent")
    if absent is None:
        return
    order = list(absent.data)
    for name in order:
        if name not in choices:
            raise absent.error(name, "no rate or multiplier depends on this field")
        known = _known_values(name, rates, multipliers)
        value = absent.raw(name)
        rules: list[PickRule] = []
        if isinstance(value, str):
            value = [{"pick": value}]
        elif isinstance(value, dict):  # { free = "480p", paid = "720p" }
            value = [{"plan": plan, "pick": pick} for plan, pick in value.items()]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise absent.error(name, "must be a value, a table by plan, or a list of picks")
        for index, item in enumerate(value):
            rule = _Section(absent.source, f"{absent._child(name)}[{index}]", item)
            pick = rule.string("pick")
            if pick is None:
                raise rule.error("pick", "is required (the value Magic Hour picks)")
            if known and pick not in known:
                raise rule.error("pick", f"{pick!r} has no price on this endpoint")
            when = rule.table("when")
            conditions = []
            for field_name in when.data if when is not None else ():
                assert when is not None
                if not _FIELD_PATH.fullmatch(field_name):
                    raise when.error(field_name, "is not a request field name")
                raw = when.raw(field_name)
                if isinstance(raw, bool):
                    expected = "true" if raw else "false"
                elif isinstance(raw, str | int):
                    expected = str(raw)
                else:
                    raise when.error(field_name, "must be a string, a whole number or a boolean")
                conditions.append((field_name, tuple(field_name.split(".")), expected))
            longer = rule.number("longer_than")
            rules.append(
                PickRule(pick, _plans(rule, "plan"), tuple(conditions), longer_than=longer)
            )
            rule.finish()
        choice = choices[name]
        choices[name] = Choice(
            choice.field, tuple(rules), choice.aliases, choice.required, choice.strings_only
        )
    # Resolve in the order written in [absent], then the others.
    ordered = {name: choices[name] for name in order}
    ordered.update({name: c for name, c in choices.items() if name not in ordered})
    choices.clear()
    choices.update(ordered)


def _compile_aliases(section: _Section, choices: dict[str, Choice]) -> None:
    """``[endpoints.X.aliases]``: values that mean another value, or absent, or set a field."""
    aliases = section.table("aliases")
    if aliases is None:
        return
    for name in aliases.data:
        if name not in choices:
            raise aliases.error(name, "no rate or multiplier depends on this field")
        table = aliases.table(name)
        assert table is not None
        found: dict[str, dict[str, Any]] = {}
        for value in table.data:
            target = table.raw(value)
            if isinstance(target, str):
                target = {name: target}
            if not isinstance(target, dict):
                raise table.error(value, "must be a value or a table of fields it sets")
            found[value] = dict(target)
        choice = choices[name]
        choices[name] = Choice(
            choice.field, choice.picks, found, choice.required, choice.strings_only
        )


def _compile_required(section: _Section, choices: dict[str, Choice]) -> None:
    """``required = ["resolution"]``: fields a request must give (422 without them)."""
    required = section.raw("required")
    if required is None:
        return
    if not isinstance(required, list) or any(r not in choices for r in required):
        raise section.error("required", "must list fields that pick a price")
    for name in required:
        c = choices[name]
        choices[name] = Choice(c.field, c.picks, c.aliases, True, c.strings_only)


def _compile_audio(section: _Section, rates: Rates | None) -> Audio | None:
    table = section.table("audio")
    if table is None:
        return None
    if rates is None or "model" not in rates.names:
        raise table.error(None, "needs a [rates] table with the model field")
    position = rates.names.index("model")
    models = {key[position] for key in rates.values}
    resolutions = (
        {key[rates.names.index("resolution")] for key in rates.values}
        if "resolution" in rates.names
        else set()
    )
    field = table.field("field", required=True)
    assert field is not None

    def listed(key: str) -> frozenset[str]:
        names = table.names(key)
        for model in sorted(names):
            if model not in models:
                raise table.error(
                    key,
                    f"{model!r} has no rate in [rates] (a surcharge for a model "
                    "the table does not list)",
                )
        return names

    included, unsupported = listed("included"), listed("unsupported")
    add: dict[str, dict[str | None, Fraction]] = {}
    add_table = table.table("add")
    for model in add_table.data if add_table is not None else ():
        assert add_table is not None
        if model not in models:
            raise add_table.error(
                model, "has no rate in [rates] (a surcharge for a model the table does not list)"
            )
        value = add_table.raw(model)
        if isinstance(value, dict):
            inner = _Section(add_table.source, add_table._child(model), value)
            for resolution in value:
                if resolution not in resolutions:
                    raise inner.error(resolution, "is not a resolution of [rates]")
            add[model] = {r: _rate_number(inner, r, v) for r, v in value.items()}
        else:
            add[model] = {None: _rate_number(add_table, model, value)}
    multiply: dict[str, Fraction] = {}
    multiply_table = table.table("multiply")
    for model in multiply_table.data if multiply_table is not None else ():
        assert multiply_table is not None
        if model not in models:
            raise multiply_table.error(
                model, "has no rate in [rates] (a surcharge for a model the table does not list)"
            )
        number = multiply_table.number(model)
        assert number is not None
        multiply[model] = number
    seen: dict[str, str] = {}
    for group, names in (
        ("included", included),
        ("unsupported", unsupported),
        ("add", set(add)),
        ("multiply", set(multiply)),
    ):
        for model in names:
            if model in seen:
                raise table.error(group, f"{model!r} is also under {seen[model]}")
            seen[model] = group
    missing = sorted(models - set(seen))
    if missing:
        raise table.error(
            None,
            f"model {missing[0]!r} has a rate but no audio rule (list it "
            "under included, unsupported, add or multiply)",
        )
    table.finish()
    return Audio(field, included, unsupported, add, multiply)

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

import re
import tomllib
from collections.abc import Mapping
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from ledger.errors import InvalidInput, NotFound
from ledger.pricing.choices import (
    compile_aliases,
    compile_audio,
    compile_multipliers,
    compile_picks,
    compile_rates,
    compile_required,
)
from ledger.pricing.reader import PricingError, Section, one_line
from ledger.pricing.request import show
from ledger.pricing.rules import PLANS, Choice, Estimate, Price

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
                raise PricingError(one_line(f"{source}: cannot read: {exc.strerror}")) from None
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise PricingError(f"{source}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise PricingError(one_line(f"{source}: not valid TOML: {exc}")) from None
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
# Compiling the table


def _compile(document: Mapping[str, Any], source: str, plan: str) -> dict[str, Price]:
    top = Section(source, "", document)
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


def _margin(section: Section, key: str, default: Fraction) -> Fraction:
    margin = section.number(key, default=default)
    assert margin is not None
    if margin > MAX_MARGIN_PERCENT:
        raise section.error(key, f"must be from 0 to {MAX_MARGIN_PERCENT} (percent)")
    return margin


def _compile_endpoint(name: str, section: Section, default_margin: Fraction, plan: str) -> Price:
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
    rates = compile_rates(section, choices)
    rate_key = RATE_KEYS[rule]
    if rates is None:
        rate = section.required_number(rate_key)
    elif section.has(rate_key):
        raise section.error(rate_key, "give either this or a [rates] table, not both")
    else:
        rate = Fraction(0)
    multipliers = compile_multipliers(section, choices)
    compile_picks(section, choices, rates, multipliers)
    compile_aliases(section, choices)
    compile_required(section, choices)
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
        audio=compile_audio(section, rates),
        **options,
    )
    section.finish(f" for rule {rule!r}")
    return price


def _choice(section: Section, key: str, choices: tuple[str, ...]) -> str:
    value = section.raw(key)
    if value is None:
        raise section.error(key, f"is required (one of {', '.join(choices)})")
    if value not in choices:
        raise section.error(key, f"must be one of {', '.join(choices)}, got {show(value)}")
    return str(value)


def _duration(section: Section) -> dict[str, Any]:
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


def _frame_rate(section: Section) -> dict[str, Any]:
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

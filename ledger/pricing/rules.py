"""The compiled pricing table: how one endpoint turns a request into credits.

An endpoint's price is ``rate x quantity x multipliers``, rounded up once at the end, where

- the **quantity** comes from the rule: seconds of clip, frames, images, characters, or 1;
- the **rate** is the endpoint's own number, or a cell of its ``rates`` table, chosen by up to two
  request fields (a video model and a resolution, say);
- **multipliers** come from other fields (lip-sync's ``pro`` mode doubles) and from the audio
  surcharge (added per second, or multiplying the rate, by model).

A field that picks a price is a :class:`Choice`: the request's own value, an alias
(``veo3.1-audio`` means ``veo3.1`` with audio on), or, when the request leaves it out, what Magic
Hour picks on the company's plan (:class:`PickRule`). A value the table has no price for (a new
model, a resolution a model lacks) is priced at the highest rate the endpoint has, and the
estimate says ``basis: fallback``: the hold must cover the real charge, and the rest returns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ledger.errors import InvalidInput
from ledger.pricing.request import (
    MISSING,
    Path,
    format_number,
    key_of,
    lookup,
    name_of,
    optional_number,
    required_number,
    show,
    utf16_length,
)
from ledger.text import check_stored_text

PLANS = ("free", "creator", "pro", "business")
PAID_PLANS = ("creator", "pro", "business")
TABLE, FALLBACK, LEARNED = "table", "fallback", "learned"

_ONE = Fraction(1)
# Choices whose value is stored with the job (and its learned prices), and their column sizes.
STORED_CHOICES = {"model": 64, "resolution": 16}


@dataclass(frozen=True)
class Estimate:
    """What a request will cost, and the pricing key it was priced under."""

    endpoint: str  # the path after /v1/, e.g. "image-to-video"
    kind: str  # "video" | "image" | "audio": which /v1/<kind>-projects/{id} the project lives under
    model: str | None  # the model as priced: the request's, or what Magic Hour picks on the plan
    credits: int  # whole credits to reserve, >= 0
    seconds: float | None = None  # the clip length, for duration-priced endpoints
    resolution: str | None = None  # the resolution as priced, if the price depends on one
    audio: bool | None = None  # audio on or off, if the price depends on it
    basis: str = TABLE  # table | fallback | learned
    table_credits: int | None = None  # the table's estimate, before learning (None: = credits)

    @property
    def key(self) -> tuple[str, str | None, str | None, bool | None]:
        """The pricing key: what a rate depends on (CONTRACT §1)."""
        return (self.endpoint, self.model, self.resolution, self.audio)

    @property
    def from_table(self) -> int:
        return self.credits if self.table_credits is None else self.table_credits


@dataclass(frozen=True)
class PickRule:
    """When a field is absent: what Magic Hour picks, on which plans, under which conditions."""

    pick: str
    plans: frozenset[str]  # empty: every plan
    when: tuple[tuple[str, Path, str], ...] = ()  # (name, field, value key) all must match
    longer_than: Fraction | None = None  # only for clips longer than this many seconds

    def matches(
        self, plan: str, body: Mapping[str, Any], picked: Mapping[str, str | None], seconds: Any
    ) -> bool:
        if self.plans and plan not in self.plans:
            return False
        if self.longer_than is not None and not (
            seconds is not None and seconds > self.longer_than
        ):
            return False
        for name, path, value in self.when:
            if name in picked:
                actual = picked[name]
            else:
                raw = lookup(body, path)
                actual = None if raw is MISSING else key_of(raw, name)
            if actual != value:
                return False
        return True


@dataclass(frozen=True)
class Choice:
    """A request field that picks a price (a model, a resolution, a mode)."""

    field: Path
    picks: tuple[PickRule, ...] = ()  # tried in order when the field is absent
    aliases: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    required: bool = False
    strings_only: bool = True

    @property
    def name(self) -> str:
        return name_of(self.field)

    def given(self, body: Mapping[str, Any]) -> str | None:
        """The request's own value as a table key, None if absent."""
        raw = lookup(body, self.field)
        if raw is MISSING:
            if self.required:
                raise InvalidInput(f"{self.name} is required", field=self.name)
            return None
        if self.strings_only and not isinstance(raw, str):
            raise InvalidInput(f"{self.name} must be a string, got {show(raw)}", field=self.name)
        return key_of(raw, self.name)


@dataclass(frozen=True)
class Audio:
    """The audio surcharge, by model: included, not offered, added per unit, or a multiplier."""

    field: Path
    included: frozenset[str]
    unsupported: frozenset[str]  # Magic Hour refuses audio there; priced as without it
    add: Mapping[str, Mapping[str | None, Fraction]]  # model -> resolution (None: any) -> credits
    multiply: Mapping[str, Fraction]

    def requested(self, body: Mapping[str, Any], overrides: Mapping[str, Any]) -> bool:
        name = name_of(self.field)
        if name in overrides:
            return bool(overrides[name])
        raw = lookup(body, self.field)
        if raw is not MISSING and not isinstance(raw, bool):
            raise InvalidInput(f"{name} must be true or false, got {show(raw)}", field=name)
        return raw is True

    def rate_with(self, rate: Fraction, model: str | None, resolution: str | None) -> Fraction:
        """``rate`` with audio on for ``model`` (known to the table) at ``resolution``."""
        if model is None:
            return rate
        if model in self.multiply:
            return rate * self.multiply[model]
        if model in self.add:
            by_resolution = self.add[model]
            extra = by_resolution.get(resolution, by_resolution.get(None))
            if extra is None:  # a resolution with no listed surcharge: the model's highest
                extra = max(by_resolution.values())
            return rate + extra
        return rate  # included, or not offered


@dataclass(frozen=True)
class Rates:
    """A rate per combination of one or two choices' values (model x resolution, say)."""

    names: tuple[str, ...]  # the choices' names, in the order of the keys below
    values: Mapping[tuple[str, ...], Fraction]

    def highest(self, audio: Audio | None) -> Fraction:
        """The fallback: the highest rate of the endpoint, with audio on if ``audio`` is given."""
        if audio is None:
            return max(self.values.values())
        return max(self._with_audio(key, rate, audio) for key, rate in self.values.items())

    def _with_audio(self, key: tuple[str, ...], rate: Fraction, audio: Audio) -> Fraction:
        picked = dict(zip(self.names, key, strict=True))
        return audio.rate_with(rate, picked.get("model"), picked.get("resolution"))


@dataclass(frozen=True)
class Multiplier:
    """A factor chosen by one field's value (lip-sync's generation mode, say)."""

    choice: Choice
    factors: Mapping[str, Fraction]


@dataclass(frozen=True)
class Price:
    """One priced endpoint."""

    endpoint: str
    kind: str
    rule: str  # per_frame | per_second | per_image | per_character | fixed
    rate: Fraction  # the rule's rate when there is no `rates` table
    margin_percent: Fraction
    plan: str = "creator"
    # duration (per_frame, per_second)
    end_field: Path | None = None
    start_field: Path | None = None
    duration_field: Path | None = None
    max_seconds: Fraction = Fraction(3600)
    # frames per second (per_frame)
    fps: Fraction | None = None
    fps_field: Path | None = None
    fps_cap_field: Path | None = None
    min_fps: Fraction | None = None
    max_fps: Fraction = Fraction(120)
    # count (per_image)
    count_field: Path | None = None
    default_count: int = 1
    max_count: int = 16
    # text (per_character)
    text_field: Path | None = None
    # what the rate depends on
    choices: Mapping[str, Choice] = dataclasses.field(
        default_factory=dict
    )  # in the order they resolve
    rates: Rates | None = None
    multipliers: tuple[Multiplier, ...] = ()
    audio: Audio | None = None

    def estimate(self, body: Mapping[str, Any]) -> Estimate:
        seconds = self._seconds(body) if self.rule in ("per_frame", "per_second") else None
        picked, overrides = self._pick(body, seconds)
        for name, max_length in STORED_CHOICES.items():  # kept with the job: must fit its column
            value = picked.get(name)
            if value is not None:
                field = self.choices[name].name if name in self.choices else name
                check_stored_text(value, field, max_length)
        fallback = False

        audio_on: bool | None = None
        if self.audio is not None:
            audio_on = self.audio.requested(body, overrides)
        rate = self.rate
        if self.rates is not None:
            key = tuple(picked[name] for name in self.rates.names)
            found = None if None in key else self.rates.values.get(key)  # type: ignore[arg-type]
            if found is None:
                fallback = True
                rate = self.rates.highest(self.audio if audio_on else None)
            else:
                rate = found
                if audio_on and self.audio is not None:
                    rate = self.audio.rate_with(rate, picked.get("model"), picked.get("resolution"))
        amount = rate * self._quantity(body, seconds)
        for multiplier in self.multipliers:
            value = picked[multiplier.choice.name]
            if value is None or value not in multiplier.factors:
                fallback = True
                amount *= max(multiplier.factors.values())
            else:
                amount *= multiplier.factors[value]
        amount *= (100 + self.margin_percent) / 100

        return Estimate(
            self.endpoint,
            self.kind,
            model=picked.get("model"),
            credits=math.ceil(amount),
            seconds=float(seconds) if seconds is not None else None,
            resolution=picked.get("resolution"),
            audio=audio_on,
            basis=FALLBACK if fallback else TABLE,
        )

    def _pick(
        self, body: Mapping[str, Any], seconds: Fraction | None
    ) -> tuple[dict[str, str | None], dict[str, Any]]:
        """Each choice's value (None: unknown), and what aliases set on other fields."""
        picked: dict[str, str | None] = {}
        overrides: dict[str, Any] = {}
        for name, choice in self.choices.items():
            value = overrides.pop(name) if name in overrides else choice.given(body)
            alias = choice.aliases.get(value) if value is not None else None
            if alias is not None:
                value = alias.get(name)
                overrides.update({k: v for k, v in alias.items() if k != name})
            if value is None:
                value = next(
                    (r.pick for r in choice.picks if r.matches(self.plan, body, picked, seconds)),
                    None,
                )
            picked[name] = value
        return picked, overrides

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
            name = name_of(self.duration_field)
            seconds = required_number(body, self.duration_field)
            if seconds <= 0:
                raise InvalidInput(f"{name} must be > 0, got {format_number(seconds)}", field=name)
        else:
            assert self.end_field is not None  # guaranteed by the loader
            name = name_of(self.end_field)
            end = required_number(body, self.end_field)
            if end <= 0:
                raise InvalidInput(f"{name} must be > 0, got {format_number(end)}", field=name)
            start = Fraction(0)
            if self.start_field is not None:
                start_name = name_of(self.start_field)
                given = optional_number(body, self.start_field)
                if given is not None:
                    if given < 0:
                        raise InvalidInput(
                            f"{start_name} must be >= 0, got {format_number(given)}",
                            field=start_name,
                        )
                    if end <= given:
                        raise InvalidInput(
                            f"{name} ({format_number(end)}) must be greater than "
                            f"{start_name} ({format_number(given)})",
                            field=name,
                        )
                    start = given
            seconds = end - start
        if seconds > self.max_seconds:
            raise InvalidInput(
                f"{name}: the duration must be at most {format_number(self.max_seconds)} s "
                f"for {self.endpoint}, got {format_number(seconds)}",
                field=name,
            )
        return seconds

    def _fps(self, body: Mapping[str, Any]) -> Fraction:
        fps = self.fps
        if self.fps_field is not None:
            name = name_of(self.fps_field)
            given = optional_number(body, self.fps_field)
            if given is None and fps is None:
                raise InvalidInput(f"{name} is required", field=name)
            if given is not None:
                if not 0 < given <= self.max_fps:
                    raise InvalidInput(
                        f"{name} must be > 0 and <= {format_number(self.max_fps)}, "
                        f"got {format_number(given)}",
                        field=name,
                    )
                fps = given
        assert fps is not None  # guaranteed by the loader
        if self.fps_cap_field is not None:
            cap = optional_number(body, self.fps_cap_field)
            if cap is not None:
                name = name_of(self.fps_cap_field)
                if cap <= 0:
                    raise InvalidInput(f"{name} must be > 0, got {format_number(cap)}", field=name)
                fps = min(fps, cap)
        if self.min_fps is not None:
            fps = max(fps, self.min_fps)
        return fps

    def _count(self, body: Mapping[str, Any]) -> int:
        if self.count_field is None:
            return self.default_count
        name = name_of(self.count_field)
        given = optional_number(body, self.count_field)
        if given is None:
            return self.default_count
        # The SDK sends the image editor's image_count as a float (2.0): integral floats are fine.
        if given.denominator != 1 or not 1 <= given <= self.max_count:
            raise InvalidInput(
                f"{name} must be a whole number from 1 to {self.max_count}, "
                f"got {format_number(given)}",
                field=name,
            )
        return int(given)

    def _characters(self, body: Mapping[str, Any]) -> int:
        assert self.text_field is not None  # guaranteed by the loader
        name = name_of(self.text_field)
        text = lookup(body, self.text_field)
        if text is MISSING:
            raise InvalidInput(f"{name} is required", field=name)
        if not isinstance(text, str):
            raise InvalidInput(f"{name} must be a string, got {show(text)}", field=name)
        return utf16_length(text)

"""Compiling what a price depends on: the ``rates`` table, multipliers, what Magic Hour picks
when a field is absent, aliases, required fields, and the audio surcharge (see the format at the
top of ``pricing.toml``)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

from ledger.pricing.reader import FIELD_PATH, Section, rate_number
from ledger.pricing.rules import PAID_PLANS, PLANS, Audio, Choice, Multiplier, PickRule, Rates


def _new_choice(
    table: Section, key: str, choices: dict[str, Choice], *, strings_only: bool = True
) -> str:
    path = table.field(key, required=True)
    assert path is not None
    name = ".".join(path)
    if name in choices:
        raise table.error(key, f"{name!r} already picks a price on this endpoint")
    choices[name] = Choice(path, strings_only=strings_only)
    return name


def compile_rates(section: Section, choices: dict[str, Choice]) -> Rates | None:
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
        path_section = Section(table.source, f"{table.where}.fields[{index}]", {"f": field_name})
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
            rates[(first,)] = rate_number(values, first, cell)
            continue
        if not isinstance(cell, dict) or not cell:
            raise values.error(first, f"must be a table of {names[1]} = rate")
        inner = Section(values.source, values.child(first), cell)
        for second, rate in cell.items():
            rates[(first, second)] = rate_number(inner, second, rate)
    table.finish()
    return Rates(tuple(names), rates)


def compile_multipliers(section: Section, choices: dict[str, Choice]) -> tuple[Multiplier, ...]:
    value = section.raw("multiplier")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise section.error("multiplier", "must be an array of tables ([[endpoints.X.multiplier]])")
    found = []
    for index, item in enumerate(value):
        table = Section(section.source, f"{section.where}.multiplier[{index}]", item)
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


def _plans(table: Section, key: str) -> frozenset[str]:
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


def compile_picks(
    section: Section,
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
            rule = Section(absent.source, f"{absent.child(name)}[{index}]", item)
            pick = rule.string("pick")
            if pick is None:
                raise rule.error("pick", "is required (the value Magic Hour picks)")
            if known and pick not in known:
                raise rule.error("pick", f"{pick!r} has no price on this endpoint")
            when = rule.table("when")
            conditions = []
            for field_name in when.data if when is not None else ():
                assert when is not None
                if not FIELD_PATH.fullmatch(field_name):
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
        choices[name] = replace(choice, picks=tuple(rules))
    # Resolve in the order written in [absent], then the others.
    ordered = {name: choices[name] for name in order}
    ordered.update({name: c for name, c in choices.items() if name not in ordered})
    choices.clear()
    choices.update(ordered)


def compile_aliases(section: Section, choices: dict[str, Choice]) -> None:
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
        choices[name] = replace(choice, aliases=found)


def compile_required(section: Section, choices: dict[str, Choice]) -> None:
    """``required = ["resolution"]``: fields a request must give (422 without them)."""
    required = section.raw("required")
    if required is None:
        return
    if not isinstance(required, list) or any(r not in choices for r in required):
        raise section.error("required", "must list fields that pick a price")
    for name in required:
        choices[name] = replace(choices[name], required=True)


def compile_audio(section: Section, rates: Rates | None) -> Audio | None:
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
            inner = Section(add_table.source, add_table.child(model), value)
            for resolution in value:
                if resolution not in resolutions:
                    raise inner.error(resolution, "is not a resolution of [rates]")
            add[model] = {r: rate_number(inner, r, v) for r, v in value.items()}
        else:
            add[model] = {None: rate_number(add_table, model, value)}
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

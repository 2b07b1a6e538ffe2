"""The long enums of Magic Hour's request bodies, read from the official SDK's own request types.

Art styles, camera effects, meme templates, voice names, image-generator tools and target
languages run to hundreds of values. Rather than copy them, the simulator reads them from the
``Literal`` types of the installed ``magic_hour`` SDK (a dependency of ``ledger``, pinned), which
is generated from Magic Hour's API description. Where that description (``magichourhq/docs``,
``api-reference/openapi.json``) lists values the SDK lacks, they are added here by hand
(:data:`DESCRIPTION_EXTRAS`): a value either of the two allows is accepted.
"""

from __future__ import annotations

import typing
from functools import cache

# (SDK TypedDict, key): values the official description allows and SDK 0.90.0's types lack
DESCRIPTION_EXTRAS: dict[tuple[str, str], tuple[str, ...]] = {
    ("V1AiVoiceGeneratorCreateBodyStyle", "voice_name"): ("Bob Dylan", "Dove Cameron"),
}


@cache
def literal_values(type_name: str, key: str) -> tuple[str, ...]:
    """The values of the ``Literal`` that types ``key`` of the SDK's ``type_name`` TypedDict
    (``V1AnimationCreateBodyStyle``, ``art_style``), plus :data:`DESCRIPTION_EXTRAS`."""
    from magic_hour.types import params  # heavy (pydantic): only when a simulator app is made

    hints = typing.get_type_hints(getattr(params, type_name))
    values = _literals(hints[key])
    if not values:
        raise LookupError(f"{type_name}.{key} is not a Literal in the installed SDK")
    return tuple(dict.fromkeys((*values, *DESCRIPTION_EXTRAS.get((type_name, key), ()))))


def _literals(annotation: typing.Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [value for value in typing.get_args(annotation) if isinstance(value, str)]
    found: list[str] = []
    for argument in typing.get_args(annotation):  # Required[...], Optional[...], Union[...]
        found += _literals(argument)
    return found

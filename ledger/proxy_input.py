"""What a proxied call brings, checked before anything else happens: the team key from its
``Authorization`` header, its JSON body, and ledger's own headers (``X-Ledger-Tags``,
``Idempotency-Key``, ``X-Ledger-Dry-Run``). Each bad one is an :class:`InvalidInput` (422) or an
:class:`Unauthorized` (401) that names it; nothing has been held or sent yet.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ledger.errors import InvalidInput, Unauthorized
from ledger.teams import KeyIdentity
from ledger.text import refuse_lone_surrogates

MAX_IDEMPOTENCY_KEY = 255
MAX_TAGS = 20
_TAG_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def bearer(authorization: str | None) -> str:
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("missing team key: send Authorization: Bearer mhl_...")
    return secret.strip()


def identified(found: KeyIdentity | None) -> KeyIdentity:
    if found is None:
        raise Unauthorized("unknown or revoked team key")
    return found


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or InvalidInput. NaN and Infinity are refused, and so
    is text that is not Unicode (a lone surrogate, which no database column can hold)."""
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidInput("the request body must be a JSON object") from None
    if not isinstance(document, dict):
        raise InvalidInput("the request body must be a JSON object")
    # A surrogate can only come from a \u escape or from bytes that are not UTF-8 (which
    # json.loads lets through): most bodies have neither and need no walk.
    if b"\\u" in raw or b"\xed" in raw:
        refuse_lone_surrogates(document)
    return document


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_tags(header: str | None) -> dict[str, str]:
    """``X-Ledger-Tags: key=value,key=value`` as a dict; InvalidInput if malformed."""
    if header is None or not header.strip():
        return {}
    tags: dict[str, str] = {}
    for item in header.split(","):
        name, equals, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not _TAG_KEY.fullmatch(name):
            raise InvalidInput(
                "X-Ledger-Tags must be key=value pairs separated by commas; keys are 1-64 of "
                "A-Z a-z 0-9 _ . : -"
            )
        if len(value) > 200 or (value and not _PRINTABLE.fullmatch(value)):
            raise InvalidInput(f"X-Ledger-Tags: the value of {name!r} must be printable, <= 200")
        tags[name] = value
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"X-Ledger-Tags: at most {MAX_TAGS} tags")
    return tags


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not (0 < len(value) <= MAX_IDEMPOTENCY_KEY) or not _PRINTABLE.fullmatch(value):
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
    return value


def parse_flag(value: str | None, name: str) -> bool:
    if value is None or value.strip().lower() in ("", "false", "0", "no"):
        return False
    if value.strip().lower() in ("true", "1", "yes"):
        return True
    raise InvalidInput(f"{name} must be true or false")


def hash_of_request(endpoint: str, body: dict[str, Any]) -> str:
    canonical = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()

"""Text that ledger keeps: what PostgreSQL refuses, SQLite is made to refuse too.

PostgreSQL stores UTF-8 and has no NUL in text, and its ``varchar(n)`` columns hold at most n
characters; SQLite takes any of these silently. A value from a request is checked here before
it is written, so both databases answer the same 422, naming the field, and nothing is written.
JSON can carry a lone surrogate (``"\\ud800"``), which is no character at all and cannot be
encoded as UTF-8: such text is refused wherever a request is parsed.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import InvalidInput


def is_unicode(text: str) -> bool:
    """True if ``text`` can be encoded as UTF-8 (no lone surrogate in it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with anything that is not Unicode escaped, safe to put in an error message."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_stored_text(value: str, name: str, max_length: int) -> str:
    """``value`` if it can be stored in a text column of ``max_length``; else InvalidInput."""
    if not is_unicode(value):
        raise InvalidInput(f"{name} is not valid Unicode text (a lone surrogate)", field=name)
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters", field=name)
    if len(value) > max_length:
        raise InvalidInput(f"{name} must be at most {max_length} characters", field=name)
    return value


def refuse_lone_surrogates(document: Any) -> None:
    """InvalidInput naming the first field (or key) of a parsed JSON document whose text is
    not Unicode."""
    where = _first_unencodable(document, "")
    if where is not None:
        name = where or "the body"
        raise InvalidInput(
            f"{name}: not valid Unicode text (a lone surrogate such as \\ud800)", field=name
        )


def _first_unencodable(document: Any, root: str) -> str | None:
    # Iterative, depth-first in document order: a body nested as deep as the JSON parser
    # allows must not overflow the stack here.
    stack: list[tuple[Any, str]] = [(document, root)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not is_unicode(node):
                return path
        elif isinstance(node, dict):
            children = []
            for key, value in node.items():
                inner = f"{path}.{printable(key)}" if path else printable(key)
                if not is_unicode(key):
                    return inner
                children.append((value, inner))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(v, f"{path}[{i}]") for i, v in enumerate(node)]))
    return None

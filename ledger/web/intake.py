"""What every request goes through before Flask routes it, whatever the WSGI server.

- **One slash.** ``//v1/account`` is ``/v1/account``: repeated slashes in the path are one
  slash. Werkzeug would answer such a path with an HTML redirect (``merge_slashes``); a client
  whose base URL ends in ``/`` should get the same JSON answer as everyone else.
- **Bodies of at most 1 MiB, however they are framed.** Flask's ``MAX_CONTENT_LENGTH`` checks a
  ``Content-Length`` header; a chunked body has none, and werkzeug then silently cuts it at the
  limit (a valid create followed by 2 MiB of padding would be accepted). A chunked body is read
  here, up to one byte past the limit, and handed on with its length, so Flask refuses an
  oversized one (413 ``payload_too_large``, in the one error shape) before any route reads it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

WSGIApp = Any  # (environ, start_response) -> Iterable[bytes]

_SLASHES = re.compile(r"/{2,}")
_DRAIN_CHUNK = 64 * 1024


class Intake:
    """WSGI middleware: one slash, and a chunked body read into memory up to ``max_body``."""

    def __init__(self, app: WSGIApp, max_body: int, *, drain: int | None = None) -> None:
        self.app = app
        self.max_body = max_body
        # An oversized body is read on a little (at most this much) so that the client, still
        # sending, gets to read the 413 instead of a reset connection; then it is dropped.
        self.drain = 4 * max_body if drain is None else drain

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = _SLASHES.sub("/", path)
        if _is_unframed(environ):
            self._buffer_body(environ)
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _buffer_body(self, environ: dict[str, Any]) -> None:
        stream = environ["wsgi.input"]
        body = _read_up_to(stream, self.max_body + 1)
        if len(body) > self.max_body:
            _read_up_to(stream, self.drain, keep=False)
        # Flask now sees a body framed by its length, already de-chunked: over the limit, its
        # own Content-Length check says 413 (werkzeug ignores the length of a chunked body).
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)


def _is_unframed(environ: dict[str, Any]) -> bool:
    """A body the server terminates itself (chunked) and Flask cannot size in advance."""
    if environ.get("CONTENT_LENGTH", "").strip():
        return False
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked and bool(environ.get("wsgi.input_terminated"))


def _read_up_to(stream: Any, limit: int, *, keep: bool = True) -> bytes:
    parts: list[bytes] = []
    left = limit
    while left > 0:
        data = stream.read(min(left, _DRAIN_CHUNK))
        if not data:
            break
        left -= len(data)
        if keep:
            parts.append(data)
    return b"".join(parts)

"""Running a Flask app under gunicorn, for ``ledger serve`` and ``ledger simulator``.

gunicorn's gthread worker: ``workers`` processes of ``threads`` threads, keep-alive, and a
graceful stop (SIGTERM) that lets requests in flight finish within ``graceful_timeout``.

Requests gunicorn refuses before the app sees them (a request line over 4094 bytes, more than 100
header fields, a field over 8190 bytes, a malformed request) are answered in the one JSON error
shape too, instead of gunicorn's HTML page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from gunicorn import util
from gunicorn.app.base import BaseApplication

# gunicorn's own limits, stated: what a request may carry before the app is asked.
REQUEST_LIMITS = {
    "limit_request_line": 4094,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
}
_CODES = {414: "invalid_request", 431: "invalid_request", 403: "forbidden"}


def _write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, answering in JSON: {"error": {"code", "message"}}."""
    code = _CODES.get(status_int, "invalid_request" if status_int < 500 else "internal")
    body = json.dumps({"error": {"code": code, "message": f"{reason}: {mesg}"}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _write_json_error  # the one function gunicorn's workers call for it


class GunicornApp(BaseApplication):  # type: ignore[misc]
    """gunicorn with settings from a mapping; ``load`` builds the app in each worker."""

    def __init__(self, load: Callable[[], Flask], settings: Mapping[str, Any]) -> None:
        self._load = load
        self._settings = dict(settings)
        super().__init__()

    def load_config(self) -> None:
        for key, value in {**REQUEST_LIMITS, **self._settings}.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Called in each worker after the fork: every worker makes its own app and connections.
        return self._load()


def run(load: Callable[[], Flask], settings: Mapping[str, Any]) -> None:
    """Serve in the foreground until SIGINT or SIGTERM."""
    GunicornApp(load, settings).run()

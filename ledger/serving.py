"""Running a Flask app under gunicorn, for ``ledger serve`` and ``ledger simulator``.

gunicorn's gthread worker: ``workers`` processes of ``threads`` threads, keep-alive, and a
graceful stop (SIGTERM) that lets requests in flight finish within ``graceful_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class GunicornApp(BaseApplication):  # type: ignore[misc]
    """gunicorn with settings from a mapping; ``load`` builds the app in each worker."""

    def __init__(self, load: Callable[[], Flask], settings: Mapping[str, Any]) -> None:
        self._load = load
        self._settings = dict(settings)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Called in each worker after the fork: every worker makes its own app and connections.
        return self._load()


def run(load: Callable[[], Flask], settings: Mapping[str, Any]) -> None:
    """Serve in the foreground until SIGINT or SIGTERM."""
    GunicornApp(load, settings).run()

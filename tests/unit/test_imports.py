"""Import order that `ledger serve` depends on."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_does_not_import_prometheus_before_serve_sets_its_multiprocess_dir() -> None:
    # prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported; `ledger serve` sets
    # it when it starts, so importing the CLI must not import prometheus_client already (else
    # /metrics under gunicorn shows no counters).
    probe = "import sys, ledger.cli; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

"""A local stand-in for the Magic Hour API: ``ledger simulator``.

- ``app.create_simulator_app(options)``: the Flask app (``/v1/`` and ``/_simulator/``).
- ``options.SimulatorOptions`` and ``options.Faults``: render times, drift, failures, faults.
- ``catalog`` (endpoints, schemas, constraints; ``official`` reads the long enums from the
  official SDK's types) and ``costs`` (what each create charges).
- ``store`` (state shared by server workers) and ``projects`` (a job's life over time).
- ``server`` (gunicorn, or a thread) and ``cli`` (the ``ledger simulator`` command).
- ``testing.running_simulator()`` / ``testing.simulator_process()`` for other test suites.

Kept import-light on purpose: ``ledger``'s CLI imports this package on every command.
"""

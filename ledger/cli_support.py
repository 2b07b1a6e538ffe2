"""What the ``ledger`` commands share: the runtime (settings and database, made on first use)
and how records are printed (a table, one record's fields, or JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click

from ledger import billing_zone, db
from ledger.config import Settings, load_settings
from ledger.queries import iso
from ledger.zones import use_billing_zone


@dataclass
class Runtime:
    """What commands share: the settings and the database, each made on first use (so that
    ``--help`` works whatever the environment holds)."""

    _settings: Settings | None = field(default=None, repr=False)
    _database: db.Database | None = field(default=None, repr=False)
    # The commands that run a ledger (worker) move the database to the billing time zone; the
    # others only refuse to run in another zone than the database's (ledger.billing_zone).
    adopt_zone: bool = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
            use_billing_zone(self._settings.billing_timezone)
        return self._settings

    @property
    def database(self) -> db.Database:
        if self._database is None:
            self._database = db.Database.of(self.settings)
            db.ensure_schema(self._database)
            if self.adopt_zone:
                billing_zone.adopt(self._database, self.settings.billing_timezone)
            else:
                billing_zone.check(self._database, self.settings.billing_timezone)
        return self._database

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()


pass_runtime = click.make_pass_decorator(Runtime)


def _jsonable(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def print_records(records: Sequence[dict[str, Any]], as_json: bool, single: bool = False) -> None:
    if as_json:
        data = [{k: _jsonable(v) for k, v in r.items()} for r in records]
        click.echo(json.dumps(data[0] if single else data, indent=2))
        return
    if single:
        record = records[0]
        width = max(map(len, record))
        for name, value in record.items():
            click.echo(f"{name:<{width}}  {cell(value)}")
        return
    click.echo(render_table(records))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def render_table(records: Iterable[dict[str, Any]]) -> str:
    rows = [{k: cell(v) for k, v in r.items()} for r in records]
    if not rows:
        return "(none)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)

"""The ``ledger`` command line. Exit 0 on success, 1 on failure, 2 on bad usage.

Every error is one line on stderr. Commands parse their arguments, call one service function in
one unit of work, and print the outcome.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from ledger import accounting, audit, billing_zone, db, reports, teams
from ledger.chargeback_cli import chargeback_command
from ledger.config import Settings, SettingsError, load_settings
from ledger.errors import InvalidInput, LedgerError
from ledger.models import ApiKey, Period, Team
from ledger.periods import parse_moment
from ledger.pricing import PricingError
from ledger.pricing.cli import pricing_group
from ledger.simulator.cli import simulator_command
from ledger.webhooks.cli import webhook_group
from ledger.zones import use_billing_zone, zone_name

EXIT_FAILURE = 1
EXIT_USAGE = 2


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ledger")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Budget guard and cost ledger for the Magic Hour API.

    Settings come from built-in defaults, then the TOML file named by LEDGER_CONFIG, then
    environment variables (LEDGER_DATABASE_URL, LEDGER_STATE_DIR, ...). See the README.
    """
    runtime = Runtime()
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


# -- serve -------------------------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes."
)
@click.option(
    "--threads",
    type=click.IntRange(1, 512),
    default=256,
    show_default=True,
    help="Per process: each holds one call while Magic Hour answers, or one slow client "
    "(README: sizing).",
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run reconciliation here (run `ledger worker` elsewhere).",
)
@pass_runtime
def serve_command(
    runtime: Runtime, host: str, port: int, workers: int, threads: int, no_scheduler: bool
) -> None:
    """Run the proxy and the ledger API (gunicorn), and the reconciliation scheduler once for
    this host, after bringing the database to the newest migration. Needs MAGIC_HOUR_API_KEY.
    SIGTERM stops it gracefully."""
    # Counters are per process under gunicorn: prometheus-client's multiprocess mode needs its
    # directory named before anything imports prometheus-client.
    made, owner = None, os.getpid()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ledger-metrics-")
    from ledger.web.server import serve

    try:
        serve(
            runtime.settings,
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            scheduler=not no_scheduler,
        )
    finally:
        # Ours, and only by the master: gunicorn's forked workers leave through here too.
        if made is not None and os.getpid() == owner:
            shutil.rmtree(made, ignore_errors=True)


@cli.command("worker")
@pass_runtime
def worker_command(runtime: Runtime) -> None:
    """Run the reconciliation scheduler alone: a sweep every LEDGER_POLL_INTERVAL seconds."""
    from ledger.scheduler import run_worker
    from ledger.web.server import configure_logging

    runtime.adopt_zone = True
    runtime.database  # noqa: B018 -- bring the schema to the newest migration (and zone) first
    configure_logging()
    run_worker(runtime.settings)


@cli.command("reconcile")
@click.option("--once", is_flag=True, required=True, help="One sweep, then exit.")
@pass_runtime
def reconcile_command(runtime: Runtime, once: bool) -> None:
    """Run one reconciliation sweep now (and process the webhooks received), print what it did."""
    from ledger.scheduler import make_reconciler
    from ledger.webhooks import inbox

    events = inbox.drain(runtime.database)
    reconciler = make_reconciler(runtime.settings, runtime.database)
    try:
        report = reconciler.sweep()
    finally:
        reconciler.upstream.close()
    click.echo(f"webhooks: {events}")
    click.echo(f"sweep: {report}")


@cli.command("demo")
@click.option("--exit", "exit_after", is_flag=True, help="End after the tour (exit 0 if all ok).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--simulator-port", type=click.IntRange(0, 65535), default=8090, show_default=True)
def demo_command(exit_after: bool, port: int, simulator_port: int) -> None:
    """The tour: the simulator and ledger on a fresh SQLite file, two teams, jobs accepted,
    refused, failed and refunded, reconciliation, balances and a spend report. Then keeps
    serving until Ctrl-C (or exits, with --exit). Busy ports are replaced by free ones."""
    from ledger.demo import run

    sys.exit(run(port, simulator_port, exit_after))


# -- db ----------------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """Schema migrations (Alembic)."""


@db_group.command("upgrade")
@pass_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Bring the database to the newest migration, and to LEDGER_BILLING_TIMEZONE (its rollups
    rebuilt and its open periods moved to that zone, if it was kept in another)."""
    settings = runtime.settings
    database = db.Database.of(settings)
    try:
        db.upgrade(database)
        if billing_zone.adopt(database, settings.billing_timezone):
            click.echo(f"moved to billing time zone {settings.billing_timezone}")
        click.echo(f"database at {db.current_revision(database.engine)} (newest)")
    finally:
        database.dispose()


@db_group.command("current")
@pass_runtime
def db_current(runtime: Runtime) -> None:
    """Print the database's migration and whether it is the newest."""
    database = db.Database.of(runtime.settings)
    try:
        current, head = db.current_revision(database.engine), db.head_revision()
        state = "newest" if current == head else f"behind; newest is {head}"
        click.echo(f"{current or 'empty'} ({state})")
    finally:
        database.dispose()


# -- teams -------------------------------------------------------------------------------------

PERIOD_CHOICE = click.Choice([p.value for p in Period])
CREDITS = click.IntRange(min=0, max=teams.MAX_CREDITS)
POSITIVE_CREDITS = click.IntRange(min=1, max=teams.MAX_CREDITS)


@cli.group("teams")
def teams_group() -> None:
    """Teams: the budget holders."""


@teams_group.command("create")
@click.argument("slug")
@click.option("--budget", type=CREDITS, required=True, help="Credits per period.")
@click.option("--period", type=PERIOD_CHOICE, default=Period.MONTH.value, show_default=True)
@click.option("--name", help="Display name (default: the slug).")
@click.option("--max-per-request", type=POSITIVE_CREDITS, help="Largest single hold allowed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_create(
    runtime: Runtime,
    slug: str,
    budget: int,
    period: str,
    name: str | None,
    max_per_request: int | None,
    as_json: bool,
) -> None:
    """Create team SLUG with a budget of N credits per period."""
    with runtime.database.write() as session:
        team = teams.create_team(
            session,
            slug,
            budget_credits=budget,
            period=period,
            name=name,
            max_credits_per_request=max_per_request,
        )
        view = _team_view(session, team)
    _print_records([view], as_json, single=True)


@teams_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_list(runtime: Runtime, as_json: bool) -> None:
    """List teams with their current balance."""
    with runtime.database.read() as session:
        views = [_team_view(session, team) for team in teams.list_teams(session)]
    _print_records(views, as_json)


@teams_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_show(runtime: Runtime, slug: str, as_json: bool) -> None:
    """Show one team and its balance for the current period."""
    with runtime.database.read() as session:
        view = _team_view(session, teams.get_team(session, slug))
    _print_records([view], as_json, single=True)


@teams_group.command("update")
@click.argument("slug")
@click.option("--budget", type=CREDITS, help="New budget per period (applies at once).")
@click.option("--period", type=PERIOD_CHOICE, help="New period (applies at once).")
@click.option("--name", help="New display name.")
@click.option("--max-per-request", type=POSITIVE_CREDITS, help="Largest single hold allowed.")
@click.option("--no-max-per-request", is_flag=True, help="Remove the per-request cap.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_update(
    runtime: Runtime,
    slug: str,
    budget: int | None,
    period: str | None,
    name: str | None,
    max_per_request: int | None,
    no_max_per_request: bool,
    as_json: bool,
) -> None:
    """Change team SLUG's budget, period, name or cap. History is never rewritten."""
    if max_per_request is not None and no_max_per_request:
        raise click.UsageError("--max-per-request and --no-max-per-request exclude each other")
    changes: dict[str, Any] = {}
    if budget is not None:
        changes["budget_credits"] = budget
    if period is not None:
        changes["period"] = period
    if name is not None:
        changes["name"] = name
    if max_per_request is not None or no_max_per_request:
        changes["max_credits_per_request"] = max_per_request
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    with runtime.database.write() as session:
        team = teams.update_team(session, slug, **changes)
        view = _team_view(session, team)
    _print_records([view], as_json, single=True)


@teams_group.command("adjust")
@click.argument("slug")
@click.option(
    "--credits",
    type=click.IntRange(min=-teams.MAX_CREDITS, max=teams.MAX_CREDITS),
    required=True,
    help="Credits to add; negative to remove.",
)
@click.option("--reason", required=True, help="Why (kept in the journal).")
@pass_runtime
def teams_adjust(runtime: Runtime, slug: str, credits: int, reason: str) -> None:
    """Correct SLUG's current period by --credits (a journal entry, never an edit)."""
    with runtime.database.write() as session:
        team = teams.get_team(session, slug)
        entry = accounting.adjust(session, team, credits, teams.validate_reason(reason))
        available = accounting.balance_of(session, team).available
    click.echo(f"entry {entry.id}: {credits:+d} credits for {slug}; available now {available}")


def _team_view(session: Any, team: Team) -> dict[str, Any]:
    balance = accounting.balance_of(session, team)
    return {
        "slug": team.slug,
        "name": team.name,
        "period": team.period,
        "budget": team.budget_credits,
        "max_credits_per_request": team.max_credits_per_request,
        "period_start": balance.period_start,
        "held": balance.held,
        "spent": balance.spent,
        "adjustments": balance.adjustments,
        "available": balance.available,
    }


# -- keys --------------------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """Team keys: what a team's code uses as its Magic Hour token."""


@keys_group.command("create")
@click.argument("slug")
@click.option("--label", help="What the key is for.")
@click.option("--max-per-request", type=POSITIVE_CREDITS, help="Largest single hold allowed.")
@pass_runtime
def keys_create(
    runtime: Runtime, slug: str, label: str | None, max_per_request: int | None
) -> None:
    """Create a key for team SLUG. The key is printed this once and never stored."""
    with runtime.database.write() as session:
        new = teams.create_key(session, slug, label=label, max_credits_per_request=max_per_request)
    click.echo(new.secret)
    click.echo(f"id {new.key.id}; this is the only time the key is shown", err=True)


@keys_group.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def keys_list(runtime: Runtime, slug: str, as_json: bool) -> None:
    """List team SLUG's keys (prefixes only, never the secrets)."""
    with runtime.database.read() as session:
        views = [_key_view(key) for key in teams.list_keys(session, slug)]
    _print_records(views, as_json)


@keys_group.command("revoke")
@click.argument("key_id", metavar="ID")
@pass_runtime
def keys_revoke(runtime: Runtime, key_id: str) -> None:
    """Revoke key ID at once."""
    with runtime.database.write() as session:
        key = teams.revoke_key(session, key_id)
    click.echo(f"key {key.id} ({key.prefix}...) revoked")


def _key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "label": key.label,
        "max_credits_per_request": key.max_credits_per_request,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


# -- reports -----------------------------------------------------------------------------------


@cli.command("report")
@click.option(
    "--from",
    "start",
    help="Start, inclusive: a date (midnight, billing time zone) or timestamp (UTC unless it "
    "says) [month start].",
)
@click.option("--to", "end", help="End, exclusive: a date or timestamp [next month start].")
@click.option(
    "--group-by",
    default=",".join(reports.DEFAULT_GROUP_BY),
    show_default=True,
    help="Comma list of team, day, week, month, endpoint, model, key, tag:NAME.",
)
@click.option("--team", "team_slug", help="Only this team.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@pass_runtime
def report_command(
    runtime: Runtime,
    start: str | None,
    end: str | None,
    group_by: str,
    team_slug: str | None,
    output: str,
) -> None:
    """Spend per group: jobs, credits held, spent and released, and usd (at
    LEDGER_USD_PER_CREDIT, else each row's share of its months' credits at LEDGER_PLAN's bands),
    with totals; days, weeks and months in LEDGER_BILLING_TIMEZONE. The same numbers as
    GET /api/reports/spend."""
    try:
        dimensions = reports.parse_group_by(group_by)
        window = parse_moment(start, "--from"), parse_moment(end, "--to")
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from None
    with runtime.database.read() as session:
        team_id = teams.get_team(session, team_slug).id if team_slug else None
        report = reports.spend_report(
            session,
            start=window[0],
            end=window[1],
            group_by=dimensions,
            team_id=team_id,
            usd_per_credit=runtime.settings.usd_per_credit,
            plan=runtime.settings.plan,
        )
    if output == "json":
        click.echo(json.dumps(report.as_json(), indent=2))
    elif output == "csv":
        click.echo(report.as_csv(), nl=False)
    else:
        zone = zone_name()
        click.echo(f"spend from {_cell(report.start)} to {_cell(report.end)} UTC ({zone} days)")
        click.echo(render_table([*report.rows, report.total_row()]))
        forecasts = dict(report.forecast)
        if isinstance(report.totals.get("forecast"), reports.Forecast):
            forecasts[team_slug or ""] = report.totals["forecast"]
        for slug, forecast in sorted(forecasts.items()):
            run_out = forecast.projected_run_out
            click.echo(
                f"forecast {slug}: {forecast.burn_rate_per_day} credits/day over the "
                f"{reports.BURN_WINDOW_DAYS} days before today; runs out: {run_out or '-'}"
            )


# -- drift -------------------------------------------------------------------------------------


@cli.command("drift")
@click.option("--from", "start", help="Start (ISO date or time, UTC); default: first snapshot.")
@click.option("--to", "end", help="End (ISO date or time, UTC); default: latest snapshot.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def drift_command(runtime: Runtime, start: str | None, end: str | None, as_json: bool) -> None:
    """Compare the upstream account's spend with ledger's: spend that bypassed the proxy."""
    from ledger import drift

    try:
        window = parse_moment(start, "--from"), parse_moment(end, "--to", end=True)
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from None
    with runtime.database.read() as session:
        found = drift.drift(session, *window)
    _print_records([found.as_json()], as_json, single=True)


# -- audit -------------------------------------------------------------------------------------


@cli.command("audit")
@pass_runtime
def audit_command(runtime: Runtime) -> None:
    """Check every ledger invariant on the live database; one line per violation."""
    with runtime.database.read() as session:
        report = audit.run(session, secrets=runtime.settings.secrets())
    for violation in report.violations:
        click.echo(violation)
    if report.violations:
        click.echo(f"audit failed: {len(report.violations)} violation(s)", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(f"audit passed: {report.summary()}")


# -- output ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _print_records(records: Sequence[dict[str, Any]], as_json: bool, single: bool = False) -> None:
    if as_json:
        data = [{k: _jsonable(v) for k, v in r.items()} for r in records]
        click.echo(json.dumps(data[0] if single else data, indent=2))
        return
    if single:
        record = records[0]
        width = max(map(len, record))
        for name, value in record.items():
            click.echo(f"{name:<{width}}  {_cell(value)}")
        return
    click.echo(render_table(records))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def render_table(records: Iterable[dict[str, Any]]) -> str:
    rows = [{k: _cell(v) for k, v in r.items()} for r in records]
    if not rows:
        return "(none)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


cli.add_command(simulator_command)
cli.add_command(chargeback_command)
cli.add_command(pricing_group)
teams_group.add_command(webhook_group)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: every failure becomes one line on stderr and a fitting exit code."""
    try:
        outcome = cli.main(
            args=list(argv) if argv is not None else None, prog_name="ledger", standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("ledger: aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "ledger"
        click.echo(f"{command}: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except SettingsError as exc:
        click.echo(f"ledger: bad setting: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
    except PricingError as exc:
        click.echo(f"ledger: bad pricing table: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
    except LedgerError as exc:
        click.echo(f"ledger: error: {exc.message}", err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:
        click.echo(f"ledger: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_FAILURE)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "no connection"
        click.echo(f"ledger: database unavailable: {reason}", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(outcome if isinstance(outcome, int) else 0)

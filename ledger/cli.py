"""The ``ledger`` command line. Exit 0 on success, 1 on failure, 2 on bad usage.

Every error is one line on stderr. Commands parse their arguments, call one service function in
one unit of work, and print the outcome. ``teams`` and ``keys`` are in :mod:`ledger.teams_cli`,
what every command shares (the runtime, printing records) in :mod:`ledger.cli_support`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

import click
from sqlalchemy.exc import OperationalError

from ledger import audit, billing_zone, db, reports, teams
from ledger.chargeback_cli import chargeback_command
from ledger.cli_support import Runtime, cell, pass_runtime, print_records, render_table
from ledger.config import SettingsError
from ledger.errors import InvalidInput, LedgerError
from ledger.periods import parse_moment
from ledger.pricing import PricingError
from ledger.pricing.cli import pricing_group
from ledger.simulator.cli import simulator_command
from ledger.teams_cli import keys_group, teams_group
from ledger.webhooks.cli import webhook_group
from ledger.zones import zone_name

EXIT_FAILURE = 1
EXIT_USAGE = 2


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
        click.echo(f"spend from {cell(report.start)} to {cell(report.end)} UTC ({zone} days)")
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
    print_records([found.as_json()], as_json, single=True)


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


cli.add_command(simulator_command)
cli.add_command(chargeback_command)
cli.add_command(pricing_group)
teams_group.add_command(webhook_group)
cli.add_command(teams_group)
cli.add_command(keys_group)


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

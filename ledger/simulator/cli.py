"""``ledger simulator``: a local Magic Hour API to try, demo, test and benchmark against."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ledger.simulator.options import (
    ACCOUNT_TIERS,
    CREATE_CHARGES,
    FAULT_SCOPES,
    Faults,
    OptionsError,
    SimulatorOptions,
    parse_price_change,
)

RATE = click.FloatRange(0.0, 1.0)
SECONDS = click.FloatRange(min=0.0)


def _parse_fps(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None


def _parse_price_changes(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, float], ...]:
    try:
        return tuple(parse_price_change(value) for value in values)
    except OptionsError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Server processes (they share state through the state file).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Threads per process.",
)
@click.option(
    "--token",
    envvar="LEDGER_SIMULATOR_TOKEN",
    help="Accept only this bearer token (default: any non-empty token).",
)
@click.option(
    "--start-credits",
    type=int,
    default=1_000_000,
    show_default=True,
    help="Account balance at start; a create it cannot pay for is refused 402.",
)
@click.option("--tier", type=click.Choice(ACCOUNT_TIERS), default="creator", show_default=True)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiply every render time (0.01: 100x faster).",
)
@click.option("--queue-seconds", type=SECONDS, default=1.0, show_default=True)
@click.option("--render-base-seconds", type=SECONDS, default=2.0, show_default=True)
@click.option(
    "--render-seconds-per-second",
    type=SECONDS,
    default=0.5,
    show_default=True,
    help="Render seconds per second of clip (per image for image tools).",
)
@click.option(
    "--jitter",
    type=RATE,
    default=0.2,
    show_default=True,
    help="Render times vary by up to this fraction.",
)
@click.option(
    "--job-error-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Renders that fail (status error, credits refunded).",
)
@click.option(
    "--cancel-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Renders canceled by hand (status canceled, refunded, no webhook).",
)
@click.option(
    "--drift-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Lip-sync, image- and text-to-video renders whose output fps is one of --drift-fps "
    "(charged for the frames at that rate).",
)
@click.option(
    "--drift-fps",
    default="24,25",
    show_default=True,
    help="Frame rates a drifting render comes out at.",
)
@click.option(
    "--create-charge",
    type=click.Choice(CREATE_CHARGES),
    default="published",
    show_default=True,
    help="What an image- or text-to-video create charges: the published price, or a 30 fps "
    "estimate (1.25x for a 24 fps model) corrected to it when the render ends.",
)
@click.option(
    "--price-change",
    "price_changes",
    multiple=True,
    metavar="MODEL=FACTOR",
    callback=_parse_price_changes,
    help="Multiply every charge of a job on MODEL by FACTOR (> 0), rounded up: a price "
    "Magic Hour raised. Repeatable.",
)
@click.option(
    "--webhook-url",
    help="POST video.*/image.*/audio.* events here, signed (needs --webhook-secret).",
)
@click.option(
    "--webhook-secret",
    envvar="LEDGER_SIMULATOR_WEBHOOK_SECRET",
    help="Sign every webhook with this secret, as Magic Hour does (magic-hour-event-signature).",
)
@click.option(
    "--webhook-timeout",
    type=click.FloatRange(min=0.0, min_open=True),
    default=10.0,
    show_default=True,
    help="Wall seconds a webhook may wait for a 2xx before it is retried (backoff 1, 2, 4... "
    "simulated seconds, for 24 simulated hours).",
)
@click.option(
    "--rate-limit-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Calls answered 429 with Retry-After.",
)
@click.option("--retry-after", type=click.IntRange(min=0), default=1, show_default=True)
@click.option(
    "--error-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Calls answered with --error-status.",
)
@click.option("--error-status", type=click.IntRange(400, 599), default=500, show_default=True)
@click.option(
    "--drop-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Calls that take effect, then lose the connection without a response.",
)
@click.option(
    "--timeout-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Calls that take effect, then hold the response --timeout-seconds.",
)
@click.option("--timeout-seconds", type=SECONDS, default=120.0, show_default=True)
@click.option(
    "--slow-rate",
    type=RATE,
    default=0.0,
    show_default=True,
    help="Calls answered after --slow-seconds.",
)
@click.option("--slow-seconds", type=SECONDS, default=2.0, show_default=True)
@click.option(
    "--fault-scope",
    type=click.Choice(FAULT_SCOPES),
    default="create",
    show_default=True,
    help="Which calls the faults hit.",
)
@click.option(
    "--create-latency",
    type=SECONDS,
    default=0.0,
    show_default=True,
    help="Seconds before every create is answered (Magic Hour's own latency; try 0.3).",
)
@click.option(
    "--get-latency",
    type=SECONDS,
    default=0.0,
    show_default=True,
    help="Seconds before every GET of /v1/ is answered (try 0.1).",
)
@click.option("--seed", type=int, help="Seed the random draws (per process).")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite state file; kept across restarts (default: a temporary file).",
)
@click.option(
    "--public-url",
    help="Base URL for upload and download links (default: the host the client called).",
)
@click.option("--access-log", is_flag=True, help="Log every request to stdout.")
def simulator_command(
    host: str,
    port: int,
    workers: int,
    threads: int,
    token: str | None,
    start_credits: int,
    tier: str,
    time_scale: float,
    queue_seconds: float,
    render_base_seconds: float,
    render_seconds_per_second: float,
    jitter: float,
    job_error_rate: float,
    cancel_rate: float,
    drift_rate: float,
    drift_fps: str,
    create_charge: str,
    price_changes: tuple[tuple[str, float], ...],
    webhook_url: str | None,
    webhook_secret: str | None,
    webhook_timeout: float,
    rate_limit_rate: float,
    retry_after: int,
    error_rate: float,
    error_status: int,
    drop_rate: float,
    timeout_rate: float,
    timeout_seconds: float,
    slow_rate: float,
    slow_seconds: float,
    fault_scope: str,
    create_latency: float,
    get_latency: float,
    seed: int | None,
    state_file: Path | None,
    public_url: str | None,
    access_log: bool,
) -> None:
    """Run a local Magic Hour API simulator (no real credits are spent).

    It speaks /v1/ like the real API: create endpoints, projects that render over time, uploads,
    downloads, the account and webhooks, with configurable render time, cost drift and faults.
    It charges Magic Hour's published rates (and its own for what has none).
    Inspect and steer it under /_simulator/ (state, jobs, faults, reset, and projects made
    outside ledger by another client of the account).
    """
    from ledger.simulator.server import serve  # gunicorn only when actually serving

    if webhook_url is not None and not webhook_secret:
        raise click.UsageError("--webhook-url needs --webhook-secret (Magic Hour signs webhooks)")
    try:
        faults = Faults(
            rate_limit_rate=rate_limit_rate,
            retry_after=retry_after,
            error_rate=error_rate,
            error_status=error_status,
            drop_rate=drop_rate,
            timeout_rate=timeout_rate,
            timeout_seconds=timeout_seconds,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            scope=fault_scope,
        )
        options = SimulatorOptions(
            token=token,
            start_credits=start_credits,
            tier=tier,
            time_scale=time_scale,
            queue_seconds=queue_seconds,
            render_base_seconds=render_base_seconds,
            render_seconds_per_second=render_seconds_per_second,
            jitter=jitter,
            job_error_rate=job_error_rate,
            cancel_rate=cancel_rate,
            drift_rate=drift_rate,
            drift_fps=_parse_fps(drift_fps),
            create_charge=create_charge,
            price_changes=price_changes,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret or None,
            webhook_timeout=webhook_timeout,
            faults=faults,
            create_latency=create_latency,
            get_latency=get_latency,
            seed=seed,
            public_url=public_url,
        )
    except OptionsError as exc:
        raise click.UsageError(str(exc)) from None

    with tempfile.TemporaryDirectory(prefix="ledger-simulator-") as tmp:
        state_path = state_file or Path(tmp) / "simulator.db"
        click.echo(
            f"Magic Hour simulator on http://{host}:{port} "
            f"({workers} workers x {threads} threads; state {state_path})",
            err=True,
        )
        serve(
            options,
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            state_path=state_path,
            access_log=access_log,
        )

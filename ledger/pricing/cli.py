"""``ledger pricing show | quote | check``: the table in use, an estimate, and CONTRACT §4a's check.

The commands share the CLI's runtime (``ctx.obj``: settings and database, made on first use).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ledger.errors import InvalidInput
from ledger.models import utcnow
from ledger.pricing import learning
from ledger.pricing.table import PricingTable

if TYPE_CHECKING:
    from ledger.pricing.pricer import Pricer

EXIT_UNDER_RESERVED = 1


def _pricer(runtime: Any) -> Pricer:
    # Imported here: the pricer counts fallback estimates in a Prometheus metric, and
    # prometheus_client must not be imported before `ledger serve` sets its multiprocess dir.
    from ledger.pricing.learning import LearnedPrices
    from ledger.pricing.pricer import Pricer

    settings = runtime.settings
    table = PricingTable.load(settings.pricing, plan=settings.plan)
    return Pricer(table, LearnedPrices(runtime.database.read))


@click.group("pricing")
def pricing_group() -> None:
    """The pricing table in use, estimates, and what Magic Hour actually charged."""


@pricing_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pricing_show(runtime: Any, as_json: bool) -> None:
    """Every rate of the table for LEDGER_PLAN, then the prices learned in the last 30 days."""
    from ledger.cli_support import render_table

    prices = _pricer(runtime)
    rows = _rates(prices.table)
    learned = [
        {
            "endpoint": key[0],
            "model": key[1],
            "resolution": key[2],
            "audio": key[3],
            "max_ratio": round(float(found.max_ratio), 6),
            "settled_jobs": found.settled,
            "basis": prices.basis_of(key),
        }
        for key, found in sorted(prices.learned.learned().items(), key=lambda i: str(i[0]))
    ]
    if as_json:
        document = {"source": prices.table.source, "plan": prices.table.plan}
        click.echo(json.dumps({**document, "rates": rows, "learned": learned}, indent=2))
        return
    click.echo(f"pricing table {prices.table.source}, plan {prices.table.plan}")
    click.echo(render_table(rows))
    click.echo("")
    click.echo("learned (last 30 days):" if learned else "learned (last 30 days): nothing yet")
    if learned:
        click.echo(render_table(learned))


def _rates(table: PricingTable) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for endpoint in table.endpoints():
        price = table.price_of(endpoint)
        assert price is not None
        unit = {
            "per_second": "per second",
            "per_frame": "per frame",
            "per_image": "per image",
            "per_character": "per character",
            "fixed": "per call",
        }[price.rule]
        if price.rates is None:
            rows.append({"endpoint": endpoint, "by": "", "rate": _number(price.rate), "unit": unit})
            continue
        for cell, rate in price.rates.values.items():
            picked = ", ".join(f"{n}={v}" for n, v in zip(price.rates.names, cell, strict=True))
            rows.append({"endpoint": endpoint, "by": picked, "rate": _number(rate), "unit": unit})
    return rows


def _number(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


@pricing_group.command("quote")
@click.argument("endpoint")
@click.argument("body_json")
@click.pass_obj
def pricing_quote(runtime: Any, endpoint: str, body_json: str) -> None:
    """The estimate for POST /v1/ENDPOINT with BODY_JSON, as the proxy would hold it."""
    from ledger.proxy_input import parse_json_object

    try:
        body = parse_json_object(body_json.encode())
    except InvalidInput as exc:
        raise click.UsageError(f"BODY_JSON: {exc.message}") from None
    estimate = _pricer(runtime).estimate(endpoint.removeprefix("/v1/"), body)
    document = {
        "endpoint": estimate.endpoint,
        "model": estimate.model,
        "resolution": estimate.resolution,
        "audio": estimate.audio,
        "estimated_credits": estimate.credits,
        "basis": estimate.basis,
    }
    click.echo(json.dumps(document, indent=2))


@pricing_group.command("check")
@click.option("--from", "start", help="Jobs created from (ISO date or time); default: 30 days ago.")
@click.option("--to", "end", help="Jobs created up to (ISO date or time); default: now.")
@click.pass_obj
def pricing_check(runtime: Any, start: str | None, end: str | None) -> None:
    """Exit 1, with one line per pricing key, if Magic Hour charged more than a hold (§4a)."""
    from datetime import timedelta

    from ledger.periods import parse_moment

    try:
        since = parse_moment(start, "--from")
        until = parse_moment(end, "--to", end=True)
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from None
    now = utcnow()
    since = since or now - learning.WINDOW
    until = until or now + timedelta(seconds=1)
    prices = _pricer(runtime)
    with runtime.database.read() as session:
        rows = learning.observed(session, since, until, prices.basis_of)
    short = [row for row in rows if row.under_reserved]
    for row in short:
        key = (row.endpoint, row.model, row.resolution, row.audio)
        click.echo(
            f"under-reserved: {learning.describe(key)}: {row.under_reserved} of {row.jobs} jobs "
            f"charged more than held (max ratio {row.max_ratio}; now estimated: {row.basis})"
        )
    window = f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    if short:
        click.echo(f"pricing check failed: {len(short)} pricing key(s), {window}", err=True)
        sys.exit(EXIT_UNDER_RESERVED)
    click.echo(f"pricing check passed: {len(rows)} pricing key(s), none under-reserved, {window}")

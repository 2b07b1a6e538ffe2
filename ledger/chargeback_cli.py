"""``ledger chargeback --month YYYY-MM``: one billing month's invoice split over the teams.

The command shares the CLI's runtime (``ctx.obj``: settings and database, made on first use).
"""

from __future__ import annotations

import json
from typing import Any

import click

from ledger import chargeback
from ledger.errors import InvalidInput


@click.command("chargeback")
@click.option("--month", required=True, help="The billing month, YYYY-MM (billing time zone).")
@click.option("--invoice-credits", help="The credits on Magic Hour's invoice, if known.")
@click.option("--invoice-usd", help="The invoice's total in dollars (1332.00), if known.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def chargeback_command(
    runtime: Any,
    month: str,
    invoice_credits: str | None,
    invoice_usd: str | None,
    output: str,
) -> None:
    """Per team: the credits its jobs created in the month were charged, and its share of the
    month's invoice (the credits at LEDGER_PLAN's bands, or LEDGER_USD_PER_CREDIT) in cents that
    add up to it; with --invoice-credits or --invoice-usd, an unattributed row shows what ledger
    did not see. The same numbers as GET /api/reports/chargeback."""
    from ledger.cli_support import render_table

    try:
        first = chargeback.parse_month(month, "--month")
        credits = chargeback.parse_invoice_credits(invoice_credits, "--invoice-credits")
        usd = chargeback.parse_invoice_usd(invoice_usd, "--invoice-usd")
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from None
    settings = runtime.settings
    with runtime.database.read() as session:
        found = chargeback.chargeback(
            session,
            first,
            plan=settings.plan,
            usd_per_credit=settings.usd_per_credit,
            invoice_credits=credits,
            invoice_usd=usd,
        )
    if output == "json":
        click.echo(json.dumps(found.as_json(), indent=2))
        return
    if output == "csv":
        click.echo(found.as_csv(), nl=False)
        return
    document = found.as_json()
    priced = f"plan {found.plan}" if found.usd_basis == "plan" else "LEDGER_USD_PER_CREDIT"
    click.echo(
        f"chargeback {document['month']} ({document['time_zone']}: {document['from']} to "
        f"{document['to']}), dollars at {priced}; invoice ${document['invoice']['usd']:,.2f}"
    )
    rows = [*found.rows, found.total_row()]
    click.echo(
        render_table(
            {
                "team": "(unattributed)" if row["unattributed"] else row["team"],
                "jobs": row["jobs"],
                "held": row["held"],
                "credits": row["credits"],
                "usd": f"{chargeback.dollars(row['usd_cents']):,}",
            }
            for row in rows
        )
    )

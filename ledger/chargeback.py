"""The chargeback: one billing month's invoice split over the teams, in cents that add up.

Per team, the credits its jobs created in the month (in the billing time zone) were charged,
and its dollars: the month's invoice (the total credits at ``LEDGER_PLAN``'s bands, or at
``LEDGER_USD_PER_CREDIT``) shared by credits, each team's cents found by the largest remainder
method so that they add up exactly to the invoice. Given the real invoice (``invoice_credits``,
``invoice_usd``), the part ledger did not see (spend that went around it) is an ``unattributed``
row:

- with ``invoice_credits``: the invoice is those credits at the rates (or ``invoice_usd``), and
  every credit, the teams' and the unattributed ones, is worth the same share of it; should
  ledger have seen more credits than were billed, the teams share the invoice and the
  unattributed credits are negative (with no dollars);
- with ``invoice_usd`` alone: the teams pay what their credits cost at the rates, and the
  unattributed dollars are the rest of the invoice (negative if the invoice is smaller).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from ledger.errors import Conflict, InvalidInput
from ledger.pricing import bands
from ledger.reports import _csv_cell, _iso, spend_report
from ledger.zones import local_midnight, next_month, zone_name

COLUMNS = ("team", "unattributed", "jobs", "held", "credits", "usd")
MAX_INVOICE_CREDITS = 10**15
MAX_INVOICE_USD = Decimal(10**12)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_USD = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")


# -- input -------------------------------------------------------------------------------------


def parse_month(raw: str | None, name: str = "month") -> date:
    """``YYYY-MM`` as the first day of that month."""
    match = _MONTH.fullmatch((raw or "").strip())
    if raw is None or raw.strip() == "":
        raise InvalidInput(f"{name} is required: a billing month YYYY-MM", field=name)
    if not match or not 1970 <= int(match[1]) <= 9998 or not 1 <= int(match[2]) <= 12:
        raise InvalidInput(
            f"{name} must be a month YYYY-MM between 1970-01 and 9998-12", field=name
        )
    return date(int(match[1]), int(match[2]), 1)


def parse_invoice_credits(raw: str | None, name: str = "invoice_credits") -> int | None:
    """A whole number of credits >= 0, or None when not given."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_INVOICE_CREDITS:
        raise InvalidInput(
            f"{name} must be a whole number of credits from 0 to {MAX_INVOICE_CREDITS}", field=name
        )
    return int(text)


def parse_invoice_usd(raw: str | None, name: str = "invoice_usd") -> Decimal | None:
    """Dollars >= 0 with at most two decimals (``1332.00``), or None when not given."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        value = Decimal(text) if _USD.fullmatch(text) else None
    except InvalidOperation:  # pragma: no cover -- the pattern admits only decimals
        value = None
    if value is None or value > MAX_INVOICE_USD:
        raise InvalidInput(
            f"{name} must be dollars from 0 to {MAX_INVOICE_USD} with at most 2 decimals",
            field=name,
        )
    return value


# -- the chargeback ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Chargeback:
    month: date
    start: datetime
    end: datetime
    plan: str
    usd_basis: str  # usd_per_credit or plan
    usd_per_credit: float | None
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    invoice: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "month": f"{self.month:%Y-%m}",
            "from": _iso(self.start),
            "to": _iso(self.end),
            "time_zone": zone_name(),
            "plan": self.plan,
            "usd_basis": self.usd_basis,
            "usd_per_credit": self.usd_per_credit,
            "invoice": self.invoice,
            "rows": [_shown(row) for row in self.rows],
            "totals": _shown(self.totals),
        }

    def total_row(self) -> dict[str, Any]:
        return {"team": "total", "unattributed": None, **_shown(self.totals)}

    def as_csv(self) -> str:
        """RFC 4180, the JSON rows' columns, then a ``total`` row; dollars with two decimals;
        text a spreadsheet would take for a formula is prefixed with ``'``."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in [*self.rows, self.total_row()]:
            cells = {**row, "usd": dollars(row["usd_cents"])}
            if isinstance(cells["unattributed"], bool):
                cells["unattributed"] = "true" if cells["unattributed"] else "false"
            writer.writerow([_csv_cell(cells[c]) for c in COLUMNS])
        return out.getvalue()

    def filename(self) -> str:
        return f"chargeback_{self.month:%Y-%m}.csv"


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "usd": row["usd_cents"] / 100}


def dollars(cents: int) -> Decimal:
    """Cents as dollars with two decimals (a number: CSV never quotes or prefixes it)."""
    return Decimal(cents).scaleb(-2)


def chargeback(
    session: Session,
    month: date,
    *,
    plan: str,
    usd_per_credit: float | None = None,
    invoice_credits: int | None = None,
    invoice_usd: Decimal | None = None,
) -> Chargeback:
    """The chargeback of one billing month (see the module's docstring). Raises
    :class:`Conflict` when credits have no price (plan ``free`` without a flat rate)."""
    if usd_per_credit is None and not bands.has_bands(plan):
        raise Conflict(
            f"plan {plan} has no per-credit rates: set LEDGER_USD_PER_CREDIT to price credits"
        )
    start, end = local_midnight(month), local_midnight(next_month(month))
    report = spend_report(session, start=start, end=end, group_by=["team"], now=end)
    teams = [
        {
            "team": row["team"],
            "unattributed": False,
            "jobs": row["jobs"],
            "held": row["held"],
            "credits": row["spent"],
        }
        for row in report.rows
    ]
    seen = sum(row["credits"] for row in teams)

    def cost(credits: int) -> int:
        usd = bands.month_cost(credits, plan=plan, usd_per_credit=usd_per_credit)
        assert usd is not None
        return bands.to_cents(usd)

    billed = invoice_credits if invoice_credits is not None else seen
    computed = cost(billed)  # the month's credits at the rates
    total = bands.to_cents(invoice_usd) if invoice_usd is not None else computed
    unattributed: dict[str, Any] | None = None
    if invoice_credits is not None:
        missing = invoice_credits - seen
        unattributed = {"credits": missing}
        if missing >= 0:
            shares = _largest_remainder(total, [*(r["credits"] for r in teams), missing])
            unattributed["usd_cents"] = shares.pop()
        else:  # ledger saw more than was billed: the teams share the invoice
            shares = _largest_remainder(total, [r["credits"] for r in teams])
            unattributed["usd_cents"] = 0
    else:
        shares = _largest_remainder(cost(seen), [r["credits"] for r in teams])
        if invoice_usd is not None:
            unattributed = {"credits": None, "usd_cents": total - cost(seen)}
    for row, cents in zip(teams, shares, strict=True):
        row["usd_cents"] = cents
    rows = list(teams)
    if unattributed is not None:
        rows.append(
            {"team": None, "unattributed": True, "jobs": None, "held": None, **unattributed}
        )
    totals = {
        "jobs": sum(r["jobs"] for r in teams),
        "held": sum(r["held"] for r in teams),
        "credits": billed if invoice_credits is not None else seen,
        "usd_cents": sum(r["usd_cents"] for r in rows),
    }
    assert totals["usd_cents"] == total, "the shares add up to the invoice"
    known = invoice_usd is None or invoice_credits is not None  # the billed credits
    invoice = {
        "credits": billed if known else None,
        "usd": total / 100,
        "usd_cents": total,
        "computed_usd": computed / 100 if known else None,  # the credits at the rates
        "source": "given" if invoice_usd is not None else "computed",
        "ledger_credits": seen,
    }
    return Chargeback(
        month,
        start,
        end,
        plan,
        "usd_per_credit" if usd_per_credit is not None else "plan",
        usd_per_credit,
        rows,
        totals,
        invoice,
    )


def _largest_remainder(total_cents: int, weights: list[int]) -> list[int]:
    """``total_cents`` split in proportion to ``weights`` (>= 0) in whole cents that add up to
    it: each gets the floor of its exact share, and the cents left over go one each to the
    largest remainders (the earlier on a tie). All zero weights: the cents go to the last."""
    whole = sum(weights)
    if not weights:
        return []
    if whole == 0:
        return [0] * (len(weights) - 1) + [total_cents]
    floors = [total_cents * w // whole for w in weights]
    remainders = [total_cents * w % whole for w in weights]
    left = total_cents - sum(floors)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        floors[i] += 1
    return floors

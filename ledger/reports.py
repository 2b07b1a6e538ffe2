"""Spend reports and the forecast: who spent what, on what, when, and when the budget runs out.

A report sums the jobs created in a window (``from`` inclusive, ``to`` exclusive, by the job's
``created_at``: spend belongs to the moment its hold was made) grouped by any combination of
dimensions. Each row carries ``jobs`` (how many), ``held`` (credits in their open holds now),
``spent`` (settled charges, overruns included) and ``released`` (credits that went from held
back to available), and ``usd`` when credits have a price (a flat one, or the plan's bands).

The sums come from ``spend_rollups`` for whole days and from ``jobs`` for the rest
(:mod:`ledger.report_sums`); both are kept in step with the journal by the accounting core and
checked against it by ``ledger audit``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import accounting, report_sums
from ledger.errors import InvalidInput
from ledger.models import Team, utcnow
from ledger.periods import parse_moment as parse_moment  # the one parser of window bounds
from ledger.pricing import bands
from ledger.report_sums import MEASURES
from ledger.zones import day_start, local_date, local_midnight, next_month, zone_name

DIMENSIONS = ("team", "day", "week", "month", "endpoint", "model", "key")
TAG_PREFIX = "tag:"
DEFAULT_GROUP_BY = ("team",)
MAX_DIMENSIONS = 10
# The same rule as the proxy's X-Ledger-Tags keys.
_TAG_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Where each dimension comes from: a column of the rollups (and of jobs).
_SOURCE = {
    "team": "team_id",
    "day": "day",
    "week": "day",
    "month": "day",
    "endpoint": "endpoint",
    "model": "model",
    "key": "key_id",
}
BURN_WINDOW_DAYS = 7
# Beyond this a projection means nothing (and would not fit a date).
_HORIZON_DAYS = 36_500


# -- input -------------------------------------------------------------------------------------


def parse_group_by(raw: str | None) -> list[str]:
    """``team,day,tag:project`` as a validated list; the default (nothing given) is ``team``."""
    if raw is None:
        return list(DEFAULT_GROUP_BY)
    return validate_group_by([part.strip() for part in raw.split(",")])


def validate_group_by(group_by: Sequence[str]) -> list[str]:
    if not group_by:
        raise InvalidInput("group_by needs at least one dimension")
    if len(group_by) > MAX_DIMENSIONS:
        raise InvalidInput(f"group_by takes at most {MAX_DIMENSIONS} dimensions")
    for dimension in group_by:
        if not isinstance(dimension, str):
            raise InvalidInput("group_by must be a list of dimension names")
        if dimension.startswith(TAG_PREFIX):
            if not _TAG_NAME.fullmatch(dimension[len(TAG_PREFIX) :]):
                raise InvalidInput(
                    f"group_by {dimension!r}: a tag name is 1-64 of A-Z a-z 0-9 _ . : -"
                )
        elif dimension not in DIMENSIONS:
            raise InvalidInput(
                f"unknown group_by dimension {dimension!r}; use a comma list of "
                f"{', '.join(DIMENSIONS)} or tag:<name>"
            )
    repeated = sorted({d for d in group_by if group_by.count(d) > 1})
    if repeated:
        raise InvalidInput(f"group_by names {repeated[0]!r} more than once")
    return list(group_by)


def current_month(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month containing ``now`` in the billing time zone, as UTC moments."""
    month = local_date(now).replace(day=1)
    return local_midnight(month), local_midnight(next_month(month))


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    """Credits per day committed (spent + held) by the jobs of the 7 whole local days before
    today, and the day the current period's available credits reach zero at that rate (None:
    see the README)."""

    burn_rate_per_day: float
    projected_run_out: date | None

    def as_json(self) -> dict[str, Any]:
        run_out = self.projected_run_out
        return {
            "burn_rate_per_day": self.burn_rate_per_day,
            "projected_run_out": run_out.isoformat() if run_out else None,
        }


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    group_by: list[str]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    usd_per_credit: float | None = None
    # Per team slug, when grouped by team; in ``totals`` instead when the report is one team's.
    forecast: dict[str, Forecast] = field(default_factory=dict)
    usd_basis: str | None = None  # usd_per_credit, plan (its bands), or None: no usd
    plan: str | None = None  # whose bands priced usd

    @property
    def columns(self) -> list[str]:
        return [*self.group_by, *MEASURES, *(["usd"] if self.usd_basis else [])]

    def as_json(self) -> dict[str, Any]:
        totals = dict(self.totals)
        if isinstance(totals.get("forecast"), Forecast):
            totals["forecast"] = totals["forecast"].as_json()
        return {
            "from": _iso(self.start),
            "to": _iso(self.end),
            "group_by": self.group_by,
            "time_zone": zone_name(),
            "usd_per_credit": self.usd_per_credit,
            "usd_basis": self.usd_basis,
            "plan": self.plan,
            "rows": self.rows,
            "totals": totals,
            "forecast": {slug: f.as_json() for slug, f in self.forecast.items()},
        }

    def total_row(self) -> dict[str, Any]:
        """The totals as one more row: ``total`` in the first column, the others empty."""
        row: dict[str, Any] = dict.fromkeys(self.group_by)
        row[self.group_by[0]] = "total"
        return row | {c: self.totals[c] for c in self.columns if c in self.totals}

    def as_csv(self) -> str:
        """RFC 4180 (CRLF, quoted where needed), a header row, then the rows and the total row.
        Text that a spreadsheet would take for a formula is prefixed with ``'``."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in [*self.rows, self.total_row()]:
            writer.writerow([_csv_cell(row[c]) for c in self.columns])
        return out.getvalue()

    def filename(self) -> str:
        return f"spend_{self.start:%Y%m%dT%H%M}_{self.end:%Y%m%dT%H%M}.csv"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def spend_report(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    team_id: int | None = None,
    usd_per_credit: float | None = None,
    plan: str | None = None,
    now: datetime | None = None,
) -> Report:
    """Sum the jobs created in ``[start, end)`` (default: the current calendar month in the
    billing time zone) by the ``group_by`` dimensions, for one team or all; rows come sorted by
    their dimensions. ``usd`` is ``spent`` at ``usd_per_credit`` if given, else (with ``plan``,
    if it has usage-based rates) each row's share of what its billing months' credits cost at
    the plan's bands (:func:`month_rates`)."""
    now = now or utcnow()
    group_by = validate_group_by(group_by)
    default_start, default_end = current_month(now)
    start, end = start or default_start, end or default_end
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("from and to must be UTC moments")
    if start >= end:
        raise InvalidInput("from must be before to")
    if usd_per_credit is not None and not usd_per_credit >= 0:
        raise InvalidInput("usd_per_credit must be a number >= 0")
    banded = usd_per_credit is None and plan is not None and bands.has_bands(plan)

    tags = [d[len(TAG_PREFIX) :] for d in group_by if d.startswith(TAG_PREFIX)]
    dimensions = {_SOURCE[d] for d in group_by if d in _SOURCE}
    sources = sorted(dimensions | ({"day"} if banded else set()))
    sums = report_sums.sums(session, start, end, sources=sources, tags=tags, team_id=team_id)
    slugs: dict[int, str] = {i: s for i, s in session.execute(select(Team.id, Team.slug))}

    grouped: dict[tuple[Any, ...], list[int]] = {}
    monthly: dict[tuple[Any, ...], dict[date, int]] = {}  # spent per row and billing month
    for base, measures in sums.items():
        values = dict(zip([*sources, *(TAG_PREFIX + t for t in tags)], base, strict=True))
        key = tuple(_dimension_value(d, values, slugs) for d in group_by)
        into = grouped.setdefault(key, [0] * len(MEASURES))
        for i, amount in enumerate(measures):
            into[i] += amount
        if banded:
            month = values["day"].replace(day=1)
            spent = monthly.setdefault(key, {})
            spent[month] = spent.get(month, 0) + measures[MEASURES.index("spent")]
    rows = [
        {**dict(zip(group_by, key, strict=True)), **_measures(measures)}
        for key, measures in sorted(grouped.items(), key=lambda item: _order(item[0]))
    ]
    total = [sum(row[m] for row in rows) for m in MEASURES]
    totals: dict[str, Any] = _measures(total)
    if usd_per_credit is not None:
        price = Decimal(str(usd_per_credit))
        for row in [*rows, totals]:
            row["usd"] = float(price * row["spent"])
    elif banded:
        assert plan is not None
        months = sorted({m for spent in monthly.values() for m in spent})
        rates = month_rates(session, months, plan)
        usd_sum = Decimal(0)
        for row, key in zip(rows, sorted(grouped, key=_order), strict=True):
            usd = sum(
                (rates[m] * spent for m, spent in monthly.get(key, {}).items()), Decimal(0)
            ).quantize(_MICRO_USD)
            row["usd"], usd_sum = float(usd), usd_sum + usd
        totals["usd"] = float(usd_sum)

    forecast: dict[str, Forecast] = {}
    if "team" in group_by:
        team_slugs = sorted({row["team"] for row in rows})
        found = session.scalars(select(Team).where(Team.slug.in_(team_slugs))).all()
        forecast = {
            slugs[team_id]: f for team_id, f in forecasts(session, list(found), now=now).items()
        }
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is not None:
            totals["forecast"] = forecasts(session, [team], now=now)[team.id]
    basis = "usd_per_credit" if usd_per_credit is not None else ("plan" if banded else None)
    return Report(
        start,
        end,
        group_by,
        rows,
        totals,
        usd_per_credit,
        forecast,
        basis,
        plan if banded else None,
    )


_MICRO_USD = Decimal("0.000001")


def month_rates(session: Session, months: Iterable[date], plan: str) -> dict[date, Decimal]:
    """Per billing month (its first day, in the billing time zone): the effective dollars per
    credit of the whole company's credits spent that month at ``plan``'s bands."""
    rates = {}
    for month in months:
        first, after = local_midnight(month), local_midnight(next_month(month))
        everyone = report_sums.sums(session, first, after, sources=[], tags=[], team_id=None)
        spent = everyone.get((), [0] * len(MEASURES))
        credits = spent[MEASURES.index("spent")]
        rates[month] = (
            bands.banded_usd(credits, plan) / credits if credits else bands.RATES[plan][0]
        )
    return rates


def _measures(measures: Sequence[int]) -> dict[str, Any]:
    return dict(zip(MEASURES, (int(m) for m in measures), strict=True))


def _order(key: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    # Dimension values are text or None; rows without a value come last.
    return tuple((value is None, value or "") for value in key)


def _dimension_value(dimension: str, values: dict[str, Any], slugs: dict[int, str]) -> Any:
    if dimension.startswith(TAG_PREFIX):
        return values[dimension]
    value = values[_SOURCE[dimension]]
    match dimension:
        case "team":
            return slugs.get(value, f"#{value}")
        case "day":
            return value.isoformat()
        case "week":  # ISO weeks, by their Monday
            return (value - timedelta(days=value.weekday())).isoformat()
        case "month":
            return value.strftime("%Y-%m")
        case _:  # rollups spell "none" as ''
            return value or None


# -- forecast ----------------------------------------------------------------------------------


def forecasts(
    session: Session, teams: Sequence[Team], *, now: datetime | None = None
) -> dict[int, Forecast]:
    """Each team's burn rate over the 7 whole days (in the billing time zone) before today (read
    from the rollups alone, so it is cheap and steady through the day) and when its current
    period's budget runs out at that rate: None when nothing was committed in those days, when
    the period ends (and its budget resets) first, or when that is more than 100 years away. A
    team already at or below zero available has run out today."""
    now = now or utcnow()
    if not teams:
        return {}
    today = day_start(now)
    start = local_midnight(local_date(now) - timedelta(days=BURN_WINDOW_DAYS))
    only = teams[0].id if len(teams) == 1 else None
    sums = report_sums.sums(session, start, today, sources=["team_id"], tags=[], team_id=only)
    result = {}
    for team in teams:
        _, held, spent, _ = sums.get((team.id,), [0, 0, 0, 0])
        burn = (held + spent) / BURN_WINDOW_DAYS
        balance = accounting.balance_of(session, team, now=now)
        result[team.id] = Forecast(round(burn, 2), _run_out(balance, burn, now))
    return result


def _run_out(balance: accounting.BalanceView, burn: float, now: datetime) -> date | None:
    if burn <= 0:
        return None
    if balance.available <= 0:
        return local_date(now)
    days = balance.available / burn
    if days > _HORIZON_DAYS:
        return None
    moment = now + timedelta(days=days)
    if balance.period_end is not None and moment >= balance.period_end:
        return None
    return local_date(moment)

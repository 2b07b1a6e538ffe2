"""What Magic Hour bills in dollars: the usage-based plans' per-credit rates, which fall in bands
of the month's credits (the discount applies to the credits inside each band, not to the whole
bill), as published late 2026 (``shared/reference/magic-hour-pricing.md`` §3).

``free`` has no usage-based rate: money columns then need ``LEDGER_USD_PER_CREDIT``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# The last credit of each band; the last band has no end.
BAND_ENDS: tuple[int | None, ...] = (100_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000, None)
RATES: dict[str, tuple[Decimal, ...]] = {
    plan: tuple(Decimal(rate) for rate in rates)
    for plan, rates in {
        "creator": ("0.001200", "0.001080", "0.000960", "0.000840", "0.000720", "0.000600"),
        "pro": ("0.001950", "0.001755", "0.001560", "0.001365", "0.001170", "0.000975"),
        "business": ("0.002500", "0.002250", "0.002000", "0.001750", "0.001500", "0.001250"),
    }.items()
}
CENT = Decimal("0.01")


def has_bands(plan: str) -> bool:
    return plan in RATES


def banded_usd(credits: int, plan: str) -> Decimal:
    """What ``credits`` used in one month cost on ``plan``, exactly (not rounded)."""
    total, below = Decimal(0), 0
    for end, rate in zip(BAND_ENDS, RATES[plan], strict=True):
        inside = (credits if end is None else min(credits, end)) - below
        if inside <= 0:
            break
        total += inside * rate
        below += inside
    return total


def to_cents(usd: Decimal) -> int:
    """Dollars as whole cents, half a cent rounded up."""
    return int((usd / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def month_cost(credits: int, *, plan: str, usd_per_credit: float | None) -> Decimal | None:
    """A month's credits in dollars: at the flat rate if one is set, else at the plan's bands;
    None when neither prices credits (``free`` without ``LEDGER_USD_PER_CREDIT``)."""
    if usd_per_credit is not None:
        return credits * Decimal(str(usd_per_credit))
    if has_bands(plan):
        return banded_usd(credits, plan)
    return None

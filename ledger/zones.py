"""The billing time zone (``LEDGER_BILLING_TIMEZONE``): where days, weeks and months begin.

Budget periods, report buckets and the spend rollups all count days in one zone, the process's
billing zone. It is chosen once when a process starts (:func:`use_billing_zone`, called by
``create_app`` and the CLI with the settings' zone) and read everywhere else
(:func:`billing_zone`); until then it is UTC. Times are stored and shown in UTC whatever the
zone: only where a day starts depends on it. ``UTC`` is :data:`datetime.UTC` itself, so the
default behaves exactly as before the setting existed.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_zone: tzinfo = UTC


@functools.cache
def zone_named(name: str) -> tzinfo:
    """The zone of an IANA name (``America/Los_Angeles``; ``UTC`` is :data:`datetime.UTC`).
    Raises :class:`ValueError` (one line) for a name that is no zone."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: an absolute path or '..'; OSError: a name that is a directory, say.
        raise ValueError("must be an IANA time zone name such as America/Los_Angeles") from None


def use_billing_zone(name: str) -> tzinfo:
    """Make ``name`` this process's billing zone (at start, before any money moves)."""
    global _zone
    _zone = zone_named(name)
    return _zone


def billing_zone() -> tzinfo:
    return _zone


def zone_name(zone: tzinfo | None = None) -> str:
    zone = zone or _zone
    return "UTC" if zone is UTC else str(zone)


def local_date(moment: datetime, zone: tzinfo | None = None) -> date:
    """The date of ``moment`` in the billing zone (or ``zone``)."""
    return moment.astimezone(zone or _zone).date()


def local_midnight(day: date, zone: tzinfo | None = None) -> datetime:
    """The UTC moment at which ``day`` begins in the billing zone (or ``zone``). A midnight that
    a daylight-saving change skips is the first moment of that day."""
    local = datetime(day.year, day.month, day.day, tzinfo=zone or _zone)
    return local.astimezone(UTC)


def day_start(moment: datetime, zone: tzinfo | None = None) -> datetime:
    """The UTC moment at which the local day containing ``moment`` began."""
    zone = zone or _zone
    return local_midnight(local_date(moment, zone), zone)


def next_day_start(moment: datetime, zone: tzinfo | None = None) -> datetime:
    """The UTC moment at which the local day after the one containing ``moment`` begins."""
    zone = zone or _zone
    return local_midnight(local_date(moment, zone) + timedelta(days=1), zone)


def ceil_to_day(moment: datetime, zone: tzinfo | None = None) -> datetime:
    """``moment`` if a local day begins then, else the start of the next local day."""
    start = day_start(moment, zone)
    return start if start == moment else next_day_start(moment, zone)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)

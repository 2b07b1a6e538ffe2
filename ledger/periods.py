"""Budget periods: where the period containing a moment starts and ends (at midnight in the
billing time zone, :mod:`ledger.zones`, as UTC moments); and the one parser of the moments that
bound windows (reports, listings, drift, observed prices, the CLI)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from ledger.errors import InvalidInput
from ledger.models import Period
from ledger.zones import billing_zone, local_date, local_midnight, next_month

# The one period of a team whose budget never resets.
NONE_PERIOD_START = datetime(1970, 1, 1, tzinfo=UTC)

# The moments a window may name. Nothing in a ledger predates the `none` period's start; the
# end leaves a year of room below datetime's limit, so that the arithmetic done with a bound
# (the day after an end date, a billing time zone's offset, a week's or a month's start) can
# never overflow.
EARLIEST_MOMENT = NONE_PERIOD_START
LATEST_MOMENT = datetime(9999, 1, 1, tzinfo=UTC)


def parse_moment(raw: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date or timestamp as a UTC moment (UTC unless it says otherwise); None if
    absent or empty. A date is its midnight in the billing time zone, or with ``end`` the
    midnight after it (the end of that day). A moment outside :data:`EARLIEST_MOMENT` to
    :data:`LATEST_MOMENT` is refused, as is anything else that is not such a moment:
    :class:`InvalidInput` naming ``name``."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time(), tzinfo=UTC)  # checks the range first
            if end:
                moment += timedelta(days=1)
                day += timedelta(days=1)
            moment = local_midnight(day)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            moment = moment.astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date or timestamp", field=name) from None
    except OverflowError:  # 9999-12-31 as an end, 0001-01-01T00:00+14:00 in UTC
        moment = None
    if moment is None or not EARLIEST_MOMENT <= moment <= LATEST_MOMENT:
        raise InvalidInput(
            f"{name} must be between {EARLIEST_MOMENT:%Y-%m-%d} and {LATEST_MOMENT:%Y-%m-%d}",
            field=name,
        )
    return moment


def period_bounds(
    period: Period | str, at: datetime, zone: tzinfo | None = None
) -> tuple[datetime, datetime | None]:
    """Return ``(start, end)`` of the period containing ``at`` as UTC moments; ``end`` is
    exclusive, None for ``none``. Days, ISO weeks (from Monday) and calendar months begin at
    midnight in the billing time zone (or ``zone``): a day when the clocks change is 23 or 25
    hours long and still one period."""
    zone = zone or billing_zone()
    day = local_date(at, zone)
    match Period(period):
        case Period.NONE:
            return NONE_PERIOD_START, None
        case Period.DAY:
            first, after = day, day + timedelta(days=1)
        case Period.WEEK:
            first = day - timedelta(days=day.weekday())
            after = first + timedelta(days=7)
        case Period.MONTH:
            first, after = day.replace(day=1), next_month(day)
    return local_midnight(first, zone), local_midnight(after, zone)
